"""TRC901: the file does not parse, so fxlint could not analyze it."""

from fxlint.diagnostics import Hazard
from fxlint.rule import Invalid, Rule


class InvalidSyntax(Rule):
    """
    ## What it does
    Reports files that LibCST cannot parse, at the position of the error. The rest of the
    checked files are still analyzed.

    ## Why is this bad?
    fxlint cannot say anything about code it cannot read, and neither can `symbolic_trace`
    import it.

    ## Example
    ```python
    def forward(self, x)
        return x
    ```

    ## Use instead
    Fix the syntax error; `python -m py_compile FILE` shows the same position.
    """

    code = "TRC901"
    hazard = Hazard.INTERNAL
    summary = "file cannot be parsed"

    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x)
                return x
    """, message_contains="cannot parse")]
