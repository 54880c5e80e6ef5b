"""bench_libs.py catalogue: x-transformers 2.31.10, token models of dim 32. See lib_models.py."""
from __future__ import annotations

import importlib

from lib_models import _t, img, tokens, vec, with_timesteps  # noqa: F401


NUM_TOKENS = 64


def _xt_wrapper(layers="Decoder", wrapper_kw=None, **layer_kw):
    def build():
        xt = importlib.import_module("x_transformers")
        kw = dict(dim=32, depth=2, heads=2)
        kw.update(layer_kw)
        return xt.TransformerWrapper(num_tokens=NUM_TOKENS, max_seq_len=32, attn_layers=getattr(xt, layers)(**kw),
                                     **(wrapper_kw or {}))
    return build


def _xt_continuous():
    xt = importlib.import_module("x_transformers")
    return xt.ContinuousTransformerWrapper(dim_in=8, dim_out=8, max_seq_len=32,
                                           attn_layers=xt.Encoder(dim=32, depth=2, heads=2))


def _xt_vit():
    xt = importlib.import_module("x_transformers")
    return xt.ViTransformerWrapper(image_size=32, patch_size=8, num_classes=3,
                                   attn_layers=xt.Encoder(dim=32, depth=1, heads=2))


def _xt_xtransformer():
    xt = importlib.import_module("x_transformers")
    return xt.XTransformer(dim=32, enc_num_tokens=NUM_TOKENS, enc_depth=1, enc_heads=2, enc_max_seq_len=32,
                           dec_num_tokens=NUM_TOKENS, dec_depth=1, dec_heads=2, dec_max_seq_len=32)


def _xt_autoregressive():
    xt = importlib.import_module("x_transformers")
    return xt.AutoregressiveWrapper(_xt_wrapper()())


def _pair_tokens(k):
    torch = _t()
    b, n = (1, 8) if k == 0 else (2, 16)
    return torch.randint(0, NUM_TOKENS, (b, n)), torch.randint(0, NUM_TOKENS, (b, n))


def _floats(k):
    return (_t().randn(1 if k == 0 else 2, 8 if k == 0 else 16, 8),)


MODELS = {
    "Decoder": (_xt_wrapper(), tokens(NUM_TOKENS)),
    "Encoder": (_xt_wrapper("Encoder"), tokens(NUM_TOKENS)),
    "Decoder_rotary": (_xt_wrapper(rotary_pos_emb=True), tokens(NUM_TOKENS)),
    "Decoder_rotary_xpos": (_xt_wrapper(rotary_xpos=True), tokens(NUM_TOKENS)),
    "Decoder_alibi": (_xt_wrapper(alibi_pos_bias=True), tokens(NUM_TOKENS)),
    "Decoder_t5_relpos": (_xt_wrapper(rel_pos_bias=True), tokens(NUM_TOKENS)),
    "Encoder_dynamic_pos_bias": (_xt_wrapper("Encoder", dynamic_pos_bias=True), tokens(NUM_TOKENS)),
    "Decoder_flash": (_xt_wrapper(attn_flash=True), tokens(NUM_TOKENS)),
    "Decoder_ff_glu": (_xt_wrapper(ff_glu=True, ff_swish=True), tokens(NUM_TOKENS)),
    "Decoder_rmsnorm": (_xt_wrapper(use_rmsnorm=True), tokens(NUM_TOKENS)),
    "Decoder_scalenorm": (_xt_wrapper(use_scalenorm=True), tokens(NUM_TOKENS)),
    "Decoder_residual_attn": (_xt_wrapper(residual_attn=True), tokens(NUM_TOKENS)),
    "Decoder_macaron": (_xt_wrapper(macaron=True), tokens(NUM_TOKENS)),
    "Decoder_sandwich_norm": (_xt_wrapper(sandwich_norm=True), tokens(NUM_TOKENS)),
    "Decoder_post_norm": (_xt_wrapper(pre_norm=False), tokens(NUM_TOKENS)),
    "Decoder_mem_kv": (_xt_wrapper(attn_num_mem_kv=4), tokens(NUM_TOKENS)),
    "Decoder_memory_tokens": (_xt_wrapper(wrapper_kw={"num_memory_tokens": 2}), tokens(NUM_TOKENS)),
    "Decoder_qk_norm": (_xt_wrapper(attn_qk_norm=True), tokens(NUM_TOKENS)),
    "Decoder_gqa": (_xt_wrapper(attn_kv_heads=1), tokens(NUM_TOKENS)),
    "Decoder_shift_tokens": (_xt_wrapper(shift_tokens=1), tokens(NUM_TOKENS)),
    "Decoder_gate_residual": (_xt_wrapper(gate_residual=True), tokens(NUM_TOKENS)),
    "Decoder_gate_values": (_xt_wrapper(attn_gate_values=True), tokens(NUM_TOKENS)),
    "Decoder_layer_dropout": (_xt_wrapper(layer_dropout=0.1, attn_dropout=0.1, ff_dropout=0.1), tokens(NUM_TOKENS)),
    "Decoder_emb_dropout_l2norm": (_xt_wrapper(wrapper_kw={"emb_dropout": 0.1, "l2norm_embed": True}),
                                   tokens(NUM_TOKENS)),
    "Decoder_head_scale": (_xt_wrapper(attn_head_scale=True, ff_post_act_ln=True), tokens(NUM_TOKENS)),
    "Decoder_sparse_topk": (_xt_wrapper(attn_sparse_topk=4), tokens(NUM_TOKENS)),
    "ContinuousTransformerWrapper": (_xt_continuous, _floats),
    "ViTransformerWrapper": (_xt_vit, img(3, (32, 32), (32, 32))),
    "XTransformer": (_xt_xtransformer, _pair_tokens),
    "AutoregressiveWrapper": (_xt_autoregressive, tokens(NUM_TOKENS, 9, 17)),
}

