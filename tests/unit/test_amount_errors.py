"""Each way people mistype an amount gets its own reason, in Kripto's words; what is accepted
is exactly what the seed's rule accepted before (ASCII digits, at most 7 before the point and
2 after, above zero)."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kripto.errors import InvalidInput
from kripto.inputs import AMOUNT_RULE, amount_problem, parse_trade_request


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("£10", 'must be a number without a currency symbol or code, like "10.00"'),
        ("10 GBP", 'must be a number without a currency symbol or code, like "10.00"'),
        ("1,000.00", 'must not contain separators such as ","; write 1,000.00 as "1000.00"'),
        ("-5", "must be greater than 0"),
        (" 10", 'must not contain spaces; write it like "10.00"'),
        ("0", "must be greater than 0"),
        ("0.00", "must be greater than 0"),
        ("+5", 'must not have a sign; write it like "10.00"'),
        ("10.001", "must have at most 2 decimal places (pennies)"),
        ("12345678", "must have at most 7 digits before the point"),
        ("1e3", 'must be written out in full, not as "1e3"'),
        ("NaN", "must be a number"),
        (".5", 'must have a digit before the point; write .50 as "0.50"'),
        ("10.", 'must have digits after the point; write 10. as "10.00"'),
        ("1.2.3", "must have at most one decimal point"),
        ("\u0661\u0660", "must use the digits 0-9 only"),
        ("", 'must not be empty; write it like "10.00"'),
        ("ten", f"must be {AMOUNT_RULE}"),
    ],
)
def test_each_mistake_has_its_own_reason(text: str, reason: str) -> None:
    assert amount_problem(text) == reason
    with pytest.raises(InvalidInput) as caught:
        parse_trade_request([{"tradeType": "buy", "amount": text}])
    assert str(caught.value) == f"amount: {reason}; got {text!r}"


@given(st.text(alphabet="0123456789.,-+ e£", max_size=12))
def test_accepts_exactly_what_the_rule_accepted_before(text: str) -> None:
    before = bool(re.fullmatch(r"[0-9]{1,7}(\.[0-9]{1,2})?", text)) and Decimal(text) > 0
    assert (amount_problem(text) is None) == before
