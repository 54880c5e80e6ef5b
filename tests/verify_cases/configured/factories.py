"""Factories for models/net.py, imported as a module from the pyproject.toml's directory."""
import torch

from models.net import Body, Head


def make_head():
    return Head(6, 3), (torch.randn(2, 6),)


def make_body():
    return Body(5), (torch.randn(2, 5).abs(),)


def make_body_alt():
    return Body(5), (torch.randn(4, 5).abs(),)
