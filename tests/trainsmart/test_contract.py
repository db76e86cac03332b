"""The input contract: rows to the model's float32 matrix, or a 400 naming the field."""

from __future__ import annotations

import math

import pytest

from trainsmart.errors import InvalidInput
from trainsmart.registry import FeatureSpec, InputContract
from trainsmart.registry.contract import UNKNOWN_CODE


def contract() -> InputContract:
    return InputContract(
        features=[
            FeatureSpec(name="tenure", kind="numeric", nullable=False),
            FeatureSpec(name="plan", kind="categorical", categories=["basic", "pro"]),
            FeatureSpec(name="region", kind="categorical", categories=[1, 2, 3]),
        ],
        classes=["no", "yes"],
    )


def test_string_categories_become_codes_and_unknown_strings_the_unknown_bucket() -> None:
    matrix = contract().to_matrix(
        [
            {"tenure": 3, "plan": "pro", "region": 2},
            {"tenure": 4.5, "plan": "enterprise", "region": 9},
            {"tenure": 0, "plan": None, "region": None},
        ]
    )
    assert matrix.dtype.name == "float32"
    assert matrix[0].tolist() == [3.0, 1.0, 2.0]
    assert matrix[1].tolist() == [4.5, UNKNOWN_CODE, 9.0]  # unseen code: the model's unknown bucket
    assert math.isnan(matrix[2, 1]) and math.isnan(matrix[2, 2])


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ({"tenure": None, "plan": "pro", "region": 1}, "instances[0].tenure", "a finite number"),
        ({"tenure": 1, "plan": "pro", "region": "north"}, "instances[0].region", "category code"),
        ({"tenure": 1, "plan": True, "region": 1}, "instances[0].plan", "a string"),
        ({"tenure": [1], "plan": "pro", "region": 1}, "instances[0].tenure", "a finite number"),
        ({"tenure": 1, "plan": "pro"}, "instances[0].region", "missing"),
    ],
)
def test_bad_values_name_field_and_expectation(
    row: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        contract().to_matrix([row])
    assert caught.value.field == field
    assert says in caught.value.message and field in caught.value.message


def test_labels_must_be_contract_classes() -> None:
    assert contract().parse_label("yes") == "yes"
    with pytest.raises(InvalidInput, match="one of the classes"):
        contract().parse_label("maybe")
