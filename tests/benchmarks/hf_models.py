"""The transformers architectures of the proving ground: tiny configs, random weights, no download.

Pure data (no torch, no transformers import) so the harness can list and select models without the venv.
Each entry: name -> (model_type, kind, class name or None for AutoModel, config overrides).
``kind`` decides the inputs (hf_trace.make_inputs): text, seq2seq, vision, audio, multimodal.
Sizes follow shared/notes/transformers_baseline: hidden 32, 2 layers, 2 heads, vocab 100, intermediate 37,
max_position_embeddings 64, use_cache False; decoders 1 key/value head of 16.
"""
from __future__ import annotations

TEXT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
        "vocab_size": 100, "max_position_embeddings": 64, "use_cache": False}
DECODER = dict(TEXT, num_key_value_heads=1, head_dim=16)
# expert sizes are multiples of 8: torch's grouped matmul (the experts' default kernel) rejects rows of 19
# floats in train mode ("strides should be multiple of 16 bytes")
MOE = dict(DECODER, intermediate_size=32, num_local_experts=4, num_experts=4, num_experts_per_tok=2,
           moe_intermediate_size=16, shared_expert_intermediate_size=16)
SEQ2SEQ = {"d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
           "decoder_attention_heads": 2, "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "vocab_size": 100,
           "max_position_embeddings": 64, "use_cache": False}
VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
       "image_size": 32, "patch_size": 8, "num_channels": 3}
AUDIO = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
         "conv_dim": [16, 16], "conv_stride": [5, 4], "conv_kernel": [10, 8], "num_conv_pos_embeddings": 16,
         "num_conv_pos_embedding_groups": 2, "vocab_size": 32}

MODELS = {
    # encoders
    "bert": ("bert", "text", None, TEXT),
    "roberta": ("roberta", "text", None, TEXT),
    "distilbert": ("distilbert", "text", None, {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 37,
                                                "vocab_size": 100, "max_position_embeddings": 64}),
    "albert": ("albert", "text", None, dict(TEXT, embedding_size=16)),
    "electra": ("electra", "text", None, dict(TEXT, embedding_size=16)),
    "deberta": ("deberta", "text", None, TEXT),
    "deberta-v2": ("deberta-v2", "text", None, TEXT),
    "xlm-roberta": ("xlm-roberta", "text", None, TEXT),
    "mpnet": ("mpnet", "text", None, TEXT),
    "roformer": ("roformer", "text", None, TEXT),
    "convbert": ("convbert", "text", None, dict(TEXT, embedding_size=32)),
    "megatron-bert": ("megatron-bert", "text", None, TEXT),
    "esm": ("esm", "text", None, dict(TEXT, pad_token_id=1)),
    # decoders (incl. MoE and a state-space model)
    "gpt2": ("gpt2", "text", None, TEXT),
    "gpt_neo": ("gpt_neo", "text", None, dict(TEXT, attention_types=[[["global", "local"], 1]],
                                              num_layers=2, window_size=4)),
    "gptj": ("gptj", "text", None, dict(TEXT, rotary_dim=8)),
    "opt": ("opt", "text", None, dict(TEXT, ffn_dim=37, word_embed_proj_dim=32)),
    "bloom": ("bloom", "text", None, dict(TEXT, n_layer=2, n_head=2)),
    "llama": ("llama", "text", None, DECODER),
    "mistral": ("mistral", "text", None, DECODER),
    "mixtral": ("mixtral", "text", None, MOE),
    "qwen2": ("qwen2", "text", None, DECODER),
    "qwen2_moe": ("qwen2_moe", "text", None, MOE),
    "qwen3": ("qwen3", "text", None, DECODER),
    "qwen3_moe": ("qwen3_moe", "text", None, MOE),
    "phi": ("phi", "text", None, DECODER),
    "phi3": ("phi3", "text", None, dict(DECODER, pad_token_id=0)),
    "gemma": ("gemma", "text", None, DECODER),
    "gemma2": ("gemma2", "text", None, DECODER),
    "falcon": ("falcon", "text", None, dict(TEXT, num_kv_heads=1, new_decoder_architecture=False)),
    "gpt_neox": ("gpt_neox", "text", None, TEXT),
    "stablelm": ("stablelm", "text", None, DECODER),
    "olmo2": ("olmo2", "text", None, DECODER),
    "starcoder2": ("starcoder2", "text", None, DECODER),
    "granite": ("granite", "text", None, DECODER),
    "mamba": ("mamba", "text", None, {"hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 100,
                                      "state_size": 8, "use_cache": False}),
    "biogpt": ("biogpt", "text", None, TEXT),
    # seq2seq
    "t5": ("t5", "seq2seq", None, {"d_model": 32, "d_kv": 16, "d_ff": 37, "num_layers": 2, "num_heads": 2,
                                   "vocab_size": 100, "use_cache": False}),
    "bart": ("bart", "seq2seq", None, SEQ2SEQ),
    "mbart": ("mbart", "seq2seq", None, SEQ2SEQ),
    "pegasus": ("pegasus", "seq2seq", None, SEQ2SEQ),
    "marian": ("marian", "seq2seq", None, dict(SEQ2SEQ, decoder_vocab_size=100, pad_token_id=0,
                                                             decoder_start_token_id=0)),
    "m2m_100": ("m2m_100", "seq2seq", None, SEQ2SEQ),
    # audio
    "wav2vec2": ("wav2vec2", "audio", None, AUDIO),
    "hubert": ("hubert", "audio", None, AUDIO),
    # vision
    "vit": ("vit", "vision", None, VIT),
    "deit": ("deit", "vision", None, VIT),
    "beit": ("beit", "vision", None, VIT),
    "dinov2": ("dinov2", "vision", None, VIT),
    "swin": ("swin", "vision", None, {"image_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1],
                                      "num_heads": [1, 2], "window_size": 2}),
    "convnext": ("convnext", "vision", None, {"hidden_sizes": [8, 16], "depths": [1, 1], "num_stages": 2,
                                            "image_size": 32}),
    "resnet": ("resnet", "vision", None, {"hidden_sizes": [8, 16], "depths": [1, 1], "embedding_size": 8}),
    "regnet": ("regnet", "vision", None, {"hidden_sizes": [8, 16], "depths": [1, 1], "embedding_size": 8,
                                          "groups_width": 8}),
    "mobilevit": ("mobilevit", "vision", None, {"image_size": 32, "hidden_sizes": [16, 24, 32],
                                                "neck_hidden_sizes": [8, 8, 16, 16, 24, 24, 32]}),
    "segformer": ("segformer", "vision", None, {"hidden_sizes": [8, 16], "depths": [1, 1], "num_encoder_blocks": 2,
                                                "sr_ratios": [2, 1], "num_attention_heads": [1, 2],
                                                "patch_sizes": [7, 3], "strides": [4, 2], "mlp_ratios": [2, 2]}),
    "detr": ("detr", "vision", None, {"d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
                                      "encoder_attention_heads": 2, "decoder_attention_heads": 2,
                                      "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "num_queries": 5,
                                      "use_timm_backbone": False, "use_pretrained_backbone": False,
                                      "backbone_config": {"model_type": "resnet", "hidden_sizes": [8, 16],
                                                          "depths": [1, 1], "embedding_size": 8,
                                                          "out_features": ["stage2"]}}),
    # multimodal
    "clip": ("clip", "multimodal", None, {"text_config": TEXT, "vision_config": VIT, "projection_dim": 16}),
    "siglip": ("siglip", "multimodal", None, {"text_config": TEXT, "vision_config": VIT}),
    # task heads
    "bert-seqcls": ("bert", "text", "BertForSequenceClassification", TEXT),
    "gpt2-lm": ("gpt2", "text", "GPT2LMHeadModel", TEXT),
    "llama-lm": ("llama", "text", "LlamaForCausalLM", DECODER),
    "vit-imgcls": ("vit", "vision", "ViTForImageClassification", VIT),
    "t5-lm": ("t5", "seq2seq", "T5ForConditionalGeneration", {"d_model": 32, "d_kv": 16, "d_ff": 37,
                                                              "num_layers": 2, "num_heads": 2, "vocab_size": 100,
                                                              "use_cache": False}),
}


def model_dirs(names=None):
    """transformers/models/<dir> of the chosen architectures (model_type with '-' as '_')."""
    names = names or list(MODELS)
    return sorted({MODELS[n][0].replace("-", "_") for n in names})
