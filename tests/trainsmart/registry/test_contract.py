"""The input contract: rows to the model's float32 matrix, or a 400 naming the field."""

from __future__ import annotations

import math

import numpy as np
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


def regression() -> InputContract:
    return InputContract(
        features=[FeatureSpec(name="x", kind="numeric")], task="regression", output_name="value"
    )


def image(channels: int = 1, nullable: bool = True) -> InputContract:
    """A 2x3 image contract: ``pixel_0 .. pixel_{6 * channels - 1}``."""
    features = [
        FeatureSpec(name=f"pixel_{i}", kind="numeric", nullable=nullable)
        for i in range(channels * 6)
    ]
    return InputContract(features=features, classes=["a", "b"], image_shape=[channels, 2, 3])


@pytest.mark.parametrize(("label", "text"), [(3, "3.0"), (3.5, "3.5"), (-0.25, "-0.25")])
def test_a_regression_label_is_the_text_of_a_finite_number(label: object, text: str) -> None:
    assert regression().parse_label(label) == text


@pytest.mark.parametrize("label", ["3.5", True, None, math.nan, math.inf, 1e300, 10**400, [1]])
def test_a_regression_label_that_is_not_a_finite_number_is_refused(label: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        regression().parse_label(label, field="label")
    assert caught.value.field == "label"
    assert "a finite number (the true value)" in caught.value.message


def test_regression_answers_one_value_per_row() -> None:
    assert regression().outputs() == [("value", "FP32", [-1, 1])]
    assert regression().prediction([2.5]) == {"value": 2.5}
    assert contract().prediction([0.25, 0.75]) == {
        "class": "yes",
        "probabilities": {"no": 0.25, "yes": 0.75},
    }


def test_an_image_row_becomes_its_pixels_in_channel_row_column_order() -> None:
    one = image()
    grey = one.expand_rows([{"image": [[0, 1, 2], [3, 4, 5]]}])
    assert grey == [{f"pixel_{i}": i for i in range(6)}]
    assert one.expand_rows([{"image": [[[0, 1, 2], [3, 4, 5]]]}]) == grey
    pixels = {f"pixel_{i}": float(i) for i in range(6)}
    assert one.expand_rows([pixels, {"image": [[0, 1, 2], [3, 4, 5]]}])[0] is pixels
    np.testing.assert_array_equal(one.to_matrix(grey), [np.arange(6, dtype=np.float32)])
    two = image(channels=2)
    rgb = two.expand_rows([{"image": [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]}])
    assert rgb == [{f"pixel_{i}": i for i in range(12)}]
    assert one.input_shapes() == [[6], [1, 2, 3], [2, 3]]
    assert two.input_shapes() == [[12], [2, 2, 3]]


@pytest.mark.parametrize(
    ("channels", "picture", "field", "says"),
    [
        (1, [[0, 1, 2]], "instances[0].image", "a list of 2 lists"),
        (1, [[0, 1, 2], [3, 4]], "instances[0].image[1]", "a list of 3 numbers"),
        (1, [[0, 1, 2], [3, 4, "5"]], "instances[0].image[1][2]", "a number"),
        (1, [[0, 1, 2], [3, 4, 1e300]], "instances[0].image[1][2]", "a finite number"),
        (2, [[0, 1, 2], [3, 4, 5]], "instances[0].image", "[channel][row][column] of numbers"),
        (1, "0,1,2,3,4,5", "instances[0].image", "an image of 1x2x3 or 2x3 pixels"),
        (1, [0, 1, 2, 3, 4, 5], "instances[0].image", "[channel][row][column] or [row][column]"),
    ],
)
def test_a_malformed_image_names_its_field(
    channels: int, picture: object, field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        image(channels).expand_rows([{"image": picture}])
    assert caught.value.field == field
    assert says in caught.value.message and field in caught.value.message


def test_a_null_pixel_is_judged_by_its_feature() -> None:
    assert image().expand_rows([{"image": [[None, 1, 2], [3, 4, 5]]}])[0]["pixel_0"] is None
    with pytest.raises(InvalidInput) as caught:
        image(nullable=False).expand_rows([{"image": [[0, 1, 2], [3, None, 5]]}], "inputs")
    assert caught.value.field == "inputs[0].image[1][1]"


def test_image_rows_take_no_pixel_fields_and_other_contracts_no_images() -> None:
    with pytest.raises(InvalidInput) as caught:
        image().expand_rows([{"image": [[0, 1, 2], [3, 4, 5]], "pixel_0": 1.0}])
    assert caught.value.field == "instances[0].pixel_0"
    rows = [{"x": 1.0, "image": [[0, 1, 2], [3, 4, 5]]}]
    assert regression().expand_rows(rows) is rows
    with pytest.raises(InvalidInput, match="unknown feature") as caught:
        regression().to_matrix(rows)
    assert caught.value.field == "instances[0].image"
