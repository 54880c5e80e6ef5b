"""A helper with a hazard, reached from model.py through a relative import."""


def clamp_rows(x):
    rows = []
    for row in x:  # HAZARD
        rows.append(row.clamp(min=0))
    return rows[0]
