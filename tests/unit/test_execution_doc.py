"""docs/execution.md's claims: its table's defaults are the settings' own, and its example of a
capped sell's note is what the exchanges write."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from kripto.exchanges.base import sell_size
from kripto.execution import ProductRules
from kripto.settings import SECTIONS, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "execution.md"
ROW = re.compile(r"^\| `KRIPTO_([A-Z_]+)` \| `([^`]+)` \|", re.MULTILINE)


def test_the_tables_defaults_are_the_settings_defaults() -> None:
    rows = dict(ROW.findall(DOC.read_text()))
    fields = {name.lower(): value for name, value in rows.items()}
    assert set(fields) == set(SECTIONS["execution"].model_fields)
    defaults = Settings(_env_file=None).execution
    for field, text in fields.items():
        given = Settings(_env_file=None, **{field: text}).execution
        assert getattr(given, field) == getattr(defaults, field), field


def test_the_capped_sells_note_is_the_exchanges() -> None:
    rules = ProductRules(
        product_id="BTC-GBP",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
    )
    size, note = sell_size(
        amount=Decimal("600.00"),
        base_size=None,
        price=Decimal("59988.00"),
        held=Decimal("0.01"),
        rules=rules,
    )
    assert size == Decimal("0.01")
    assert note is not None and f"\n{note}\n" in DOC.read_text()


def test_the_readme_diagram_names_the_trades_activities_as_registered() -> None:
    """The README's flow diagram shows the maker-first steps by the names the trade's history
    records; a renamed or retired activity makes this fail."""
    import re
    from pathlib import Path

    from activities import interfaces

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    registered = {
        getattr(f, "__temporal_activity_definition").name
        for f in vars(interfaces).values()
        if hasattr(f, "__temporal_activity_definition")
    }
    steps = [
        "prepare_trade",
        "place_maker",
        "check_maker",
        "cancel_maker",
        "place_taker",
        "finish_trade",
        "place_order",
        "await_settlement",
        "write_trade",
        "send_receipt",
    ]
    for step in steps:
        assert re.search(rf"\b{step}\b", readme), f"the README's diagram does not show {step}"
        assert step in registered, f"{step} is not an activity the trade runs"
