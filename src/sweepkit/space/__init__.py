"""Search spaces: parameter types and the space that samples them through an Optuna trial."""

from sweepkit.space._params import (
    Choice,
    Constant,
    Derived,
    Float,
    Int,
    Parameter,
    Quantile,
    Quantized,
)
from sweepkit.space._space import DerivedError, SearchSpace, flatten, nest, point_key

__all__ = [
    "Choice",
    "Constant",
    "Derived",
    "DerivedError",
    "Float",
    "Int",
    "Parameter",
    "Quantile",
    "Quantized",
    "SearchSpace",
    "flatten",
    "nest",
    "point_key",
]
