"""Bad input: make() returns something that is not a model."""


def make():
    return "not a model"
