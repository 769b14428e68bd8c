"""CoinbaseExchange against the fake Advanced Trade server, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kripto.errors import (
    BadCredentials,
    ExchangeUnavailable,
    InsufficientFunds,
    KriptoError,
    NonRetryableError,
    OrderRejected,
    RetryableError,
)
from kripto.exchanges.base import Exchange
from kripto.exchanges.coinbase import CoinbaseExchange, order_from_coinbase
from kripto.models import Order, Side
from tests.fakes.coinbase_fixtures import (
    KEY_NAME,
    FakeCoinbase,
    new_ec_key,
    start_fake_coinbase_process,
)
from tests.fakes.coinbase_server import Fault

GBP_AFTER_SEED_BUY = Decimal("990.000028301824")  # 1000.00 - 9.9502205952 - 0.049751102976


def secret_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def assert_no_secret(text: str, fake: FakeCoinbase) -> None:
    for line in secret_lines(fake.private_key_pem):
        assert line not in text
    assert "Bearer" not in text
    assert "eyJ" not in text  # no JWT


@pytest.fixture
async def coinbase(fake_coinbase: FakeCoinbase) -> AsyncIterator[CoinbaseExchange]:
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=2.0,
    )
    try:
        yield exchange
    finally:
        await exchange.close()


async def buy(exchange: CoinbaseExchange, key: str, amount: str = "10.00") -> Order:
    return await exchange.place_market_order(
        client_order_id=key, product_id="BTC-GBP", side=Side.BUY, amount=Decimal(amount)
    )


async def test_places_one_order_in_the_seed_shape(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    assert isinstance(coinbase, Exchange)
    order = await buy(coinbase, "trade-1")
    assert order.client_order_id == "trade-1"
    assert order.side is Side.BUY
    assert order.product_id == "BTC-GBP"
    assert order.funds == Decimal("10.00")  # funds ← quote_size
    assert order.filled_size == Decimal("0.00125952")
    assert order.executed_value == Decimal("9.9502205952")
    assert order.fill_fees == Decimal("0.049751102976")
    assert order.settled is True
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)
    assert fake_coinbase.balances()["BTC"]["available"] == "0.00125952"
    assert await coinbase.get_order(order.id) == order
    assert await coinbase.find_order("trade-1") == order
    assert await coinbase.find_order("no-such-trade") is None


async def test_a_duplicate_client_order_id_returns_the_same_order(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    first = await buy(coinbase, "trade-1")
    assert await buy(coinbase, "trade-1", amount="25.00") == first
    # Even a client that skips the look-up gets the existing order back from the exchange.
    blind = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        lookup_pages=0,
    )
    try:
        assert (await buy(blind, "trade-1", amount="25.00")).id == first.id
    finally:
        await blind.close()
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)


async def test_find_order_follows_the_cursor(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    first = await buy(coinbase, "oldest")
    for n in range(4):
        await buy(coinbase, f"newer-{n}")
    assert fake_coinbase.server.page_size == 2  # so "oldest" is on the third page
    assert await coinbase.find_order("oldest") == first


async def test_faults_then_success_place_exactly_one_order(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.inject(
        Fault("429", retry_after=3),
        Fault("500"),
        Fault("drop", method="POST", path="/orders"),
    )
    errors: list[RetryableError] = []
    order = None
    for _ in range(6):  # what Temporal's retry does: find_order, then place
        try:
            order = await buy(coinbase, "trade-1")
            break
        except RetryableError as exc:
            errors.append(exc)
    assert order is not None
    assert len(errors) == 3
    assert errors[0].retry_after == 3.0
    assert "HTTP 429" in str(errors[0])
    assert "HTTP 500" in str(errors[1])
    assert "connection failed" in str(errors[2])
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)
    for error in errors:
        assert_no_secret(str(error), fake_coinbase)


@pytest.mark.parametrize(
    ("fault", "wait", "said"),
    [
        (Fault("429", retry_after=3), 3.0, "Too many requests); retry after 3s (Retry-After)"),
        (
            Fault("429", retry_after=None, reset_in=7, reset_as="seconds"),
            7.0,
            "Too many requests); retry after 7s (x-ratelimit-reset)",
        ),
        (
            Fault("429", retry_after=None, reset_in=30, reset_as="epoch"),
            None,  # a Unix time 30 s ahead: checked below, as the clock moves
            "Too many requests); retry after ",
        ),
        (
            Fault("429", retry_after=None, html=True),
            None,
            "an HTML page: Coinbase | Too Many Requests); no Retry-After or x-ratelimit-reset,"
            " so backing off exponentially",
        ),
    ],
    ids=["retry-after", "reset-seconds", "reset-epoch", "html-no-header"],
)
async def test_every_shape_of_429_backs_off_as_it_says_then_one_order_is_placed(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase, fault: Fault, wait: float, said: str
) -> None:
    fake_coinbase.inject(fault)
    with pytest.raises(RetryableError) as caught:
        await buy(coinbase, "trade-1")
    message = str(caught.value)
    assert message.startswith(
        "Coinbase: looking up order trade-1: rate limited (HTTP 429: " + said
    ), message
    if fault.reset_as == "epoch" and fault.reset_in is not None:
        # x-ratelimit-reset as a Unix time: the wait is what is left until then, not 1.7e9 s
        assert caught.value.retry_after is not None
        assert 25.0 <= caught.value.retry_after <= 30.0
        assert "(x-ratelimit-reset)" in message
    else:
        assert caught.value.retry_after == wait
    assert "<" not in message and "xxxx" not in message  # no markup, only the page's title
    assert len(message) < 250
    assert_no_secret(message, fake_coinbase)

    order = await buy(coinbase, "trade-1")  # what Temporal's next attempt does
    assert order.client_order_id == "trade-1"
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)


async def test_a_slow_reply_is_a_retryable_timeout(fake_coinbase: FakeCoinbase) -> None:
    impatient = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=0.2,
    )
    fake_coinbase.inject(Fault("slow", seconds=0.6))
    try:
        with pytest.raises(RetryableError, match=r"no reply within 0\.2s"):
            await impatient.wallet()
        assert (await impatient.wallet()).gbp.available == Decimal("1000.00")
    finally:
        await impatient.close()


async def test_an_order_settles_after_polling(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.server.settle_after = 2
    placed = await buy(coinbase, "trade-1")
    assert placed.settled is False
    assert placed.filled_size == 0
    settled = await coinbase.get_order(placed.id)
    assert settled.settled is True
    assert settled.filled_size == Decimal("0.00125952")
    assert settled.fill_fees == Decimal("0.049751102976")


async def test_a_sell_is_sized_in_btc_at_the_current_price(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    await buy(coinbase, "buy-1", amount="100.00")
    sell = await coinbase.place_market_order(
        client_order_id="sell-1", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("10.00")
    )
    assert sell.side is Side.SELL
    assert sell.filled_size == Decimal("0.00126582")  # 10.00 / 7900.01, rounded down
    assert sell.executed_value == Decimal("9.9999906582")
    assert sell.funds == sell.executed_value
    assert sell.fill_fees == Decimal("0.049999953291")
    assert fake_coinbase.order_count() == 2


async def test_insufficient_funds_is_refused_and_places_nothing(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.set_balance("GBP", "12.30")
    with pytest.raises(InsufficientFunds) as caught:
        await buy(coinbase, "trade-1", amount="50.00")
    assert str(caught.value) == (
        "insufficient funds: buying £50.00 of BTC-GBP was refused by Coinbase"
        " (not enough GBP), wallet has £12.30 GBP available"
    )
    # Kripto reads the balance before it sells (a sell is capped at what is held): nothing held
    # is refused before anything is sent.
    with pytest.raises(InsufficientFunds, match=r"wallet has 0\.00000000 BTC"):
        await coinbase.place_market_order(
            client_order_id="sell-1", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("5")
        )
    assert fake_coinbase.order_count() == 0
    assert_no_secret(str(caught.value), fake_coinbase)


async def test_a_wrong_key_is_bad_credentials(fake_coinbase: FakeCoinbase) -> None:
    wrong_pem, _ = new_ec_key()
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url, key_name=fake_coinbase.key_name, private_key_pem=wrong_pem
    )
    try:
        # The wallet read (the check before a trade's key is claimed) fails fast...
        with pytest.raises(BadCredentials) as caught:
            await exchange.wallet()
        # ...while on the order's path a 401 is retried: an order may exist by then.
        with pytest.raises(ExchangeUnavailable) as waiting:
            await buy(exchange, "trade-1")
    finally:
        await exchange.close()
    assert isinstance(caught.value, NonRetryableError)
    assert isinstance(waiting.value, RetryableError)
    for error in (caught.value, waiting.value):
        assert "HTTP 401" in str(error)
        for line in secret_lines(wrong_pem):
            assert line not in str(error)
    for line in secret_lines(wrong_pem):
        assert line not in repr(exchange)
    assert fake_coinbase.order_count() == 0


async def test_the_wallet_is_available_plus_hold_across_pages(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.server.accounts["GBP"].hold = Decimal("2.50")
    fake_coinbase.set_balance("BTC", "0.01000000")
    fake_coinbase.server.accounts["BTC"].hold = Decimal("0.00100000")
    wallet = await coinbase.wallet()
    assert wallet.gbp.available == Decimal("1000.00")
    assert wallet.gbp.hold == Decimal("2.50")
    assert wallet.gbp.balance == Decimal("1002.50")
    assert wallet.btc.balance == Decimal("0.01100000")  # BTC is on the second page
    assert wallet.gbp.id == fake_coinbase.server.accounts["GBP"].uuid
    assert wallet.btc.model_dump(mode="json")["available"] == "0.01000000"
    assert await coinbase.fee_rate() == Decimal("0.005")


async def test_secrets_stay_out_of_reprs_and_errors(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    assert_no_secret(repr(coinbase), fake_coinbase)
    assert_no_secret(str(vars(coinbase)), fake_coinbase)
    fake_coinbase.inject("500")
    with pytest.raises(KriptoError) as caught:
        await coinbase.get_order("nope")
    assert_no_secret(str(caught.value), fake_coinbase)
    with pytest.raises(KriptoError) as missing:
        await coinbase.get_order("nope")
    assert "not found" in str(missing.value)
    assert_no_secret(str(missing.value), fake_coinbase)


async def test_the_fake_runs_as_its_own_process(tmp_path: Path) -> None:
    fake = start_fake_coinbase_process(tmp_path)
    exchange = CoinbaseExchange(
        base_url=fake.url, key_name=fake.key_name, private_key_pem=fake.private_key_pem
    )
    try:
        fake.set_price("8000.00")
        fake.inject({"kind": "500"})
        with pytest.raises(RetryableError):
            await buy(exchange, "trade-1")
        order = await buy(exchange, "trade-1")
        assert order.filled_size == Decimal("0.00124378")  # 9.95024875 / 8000.00
        assert fake.order_count() == 1
    finally:
        await exchange.close()
        fake.stop()
    assert fake.process.returncode is not None


async def test_concurrent_placements_under_one_key_place_one_order(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    orders = await asyncio.gather(*(buy(coinbase, "same") for _ in range(5)))
    assert len({o.id for o in orders}) == 1
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)


async def test_an_order_cancelled_unfilled_is_rejected_not_a_trade(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    before = fake_coinbase.balances()
    fake_coinbase.inject({"kind": "no_fill"})
    with pytest.raises(OrderRejected) as caught:
        await buy(coinbase, "trade-1")
    assert isinstance(caught.value, NonRetryableError)
    [order] = fake_coinbase.state()["orders"]
    assert str(caught.value) == (
        f"Coinbase: order trade-1 (Coinbase order {order['order_id']}) was cancelled"
        " with nothing filled: IOC order could not be filled"
    )
    assert_no_secret(str(caught.value), fake_coinbase)
    assert fake_coinbase.balances() == before
    assert fake_coinbase.order_count() == 1
    # A retry finds the cancelled order under its key, says the same, and places nothing.
    with pytest.raises(OrderRejected) as again:
        await buy(coinbase, "trade-1")
    assert str(again.value) == str(caught.value)
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances() == before


async def test_an_order_not_visible_yet_is_retryable_and_not_placed_twice(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.inject(Fault("404", method="GET", path="/orders/historical/{id}"))
    with pytest.raises(KriptoError) as caught:
        await buy(coinbase, "trade-1")
    assert isinstance(caught.value, RetryableError)
    assert "not visible yet" in str(caught.value)
    [created] = fake_coinbase.state()["orders"]
    assert fake_coinbase.order_count() == 1
    order = await buy(coinbase, "trade-1")
    assert order.id == created["order_id"]
    assert order.settled is True
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.balances()["GBP"]["available"] == str(GBP_AFTER_SEED_BUY)
    # A 404 on the product read before a sell's create is retried too: an earlier attempt's
    # order may exist and not show in the look-up yet (the product was checked before the claim).
    fake_coinbase.inject(Fault("404", method="GET", path="/products/"))
    with pytest.raises(ExchangeUnavailable, match="HTTP 404"):
        await coinbase.place_market_order(
            client_order_id="sell-1", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("5")
        )
    assert fake_coinbase.order_count() == 1


async def test_the_key_name_is_masked_in_errors_and_reprs(fake_coinbase: FakeCoinbase) -> None:
    assert fake_coinbase.key_name == KEY_NAME == "organizations/kripto-test/apiKeys/0f3c2b1a-fake"
    masked = "organizations/…/apiKeys/…fake"
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url, key_name=KEY_NAME, private_key_pem=new_ec_key()[0]
    )
    try:
        with pytest.raises(BadCredentials) as caught:
            await exchange.wallet()
    finally:
        await exchange.close()
    for text in (str(caught.value), repr(exchange), str(exchange), str(vars(exchange))):
        assert KEY_NAME not in text
        assert "kripto-test" not in text
        assert "0f3c2b1a" not in text
        assert masked in text


def test_a_final_order_with_fills_is_settled_whatever_the_flag() -> None:
    reply = {
        "order_id": "o-1",
        "client_order_id": "trade-1",
        "product_id": "BTC-GBP",
        "side": "BUY",
        "created_time": "2026-01-01T00:00:00.123456789Z",
        "order_configuration": {"market_market_ioc": {"quote_size": "10.00"}},
        "filled_size": "0.001",
        "filled_value": "7.90",
        "settled": False,
    }
    for status in ("FILLED", "CANCELLED", "EXPIRED", "FAILED"):  # partly filled, then ended
        assert order_from_coinbase({**reply, "status": status}).settled is True
    for status in ("OPEN", "PENDING", "QUEUED"):  # may still change: keep polling
        assert order_from_coinbase({**reply, "status": status}).settled is False
    unfilled = {**reply, "filled_size": "0", "filled_value": "0", "status": "EXPIRED"}
    with pytest.raises(OrderRejected) as caught:
        order_from_coinbase({**unfilled, "reject_reason": "NO_LIQUIDITY", "cancel_message": ""})
    assert str(caught.value) == (
        "Coinbase: order trade-1 (Coinbase order o-1) expired with nothing filled:"
        " reject reason NO_LIQUIDITY"
    )


async def test_a_second_market_trades_its_own_coin_and_the_wallet_shows_it(
    fake_coinbase: FakeCoinbase,
) -> None:
    """ETH-GBP beside BTC-GBP: a buy by quote_size in GBP, a sell by base_size in ETH sized from
    ETH-GBP's own price, and the wallet keyed by currency ({"gbp", "btc", "eth"})."""
    fake_coinbase.set_price("2000.00", "ETH-GBP")
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=2.0,
        products=("BTC-GBP", "ETH-GBP"),
    )
    try:
        bought = await exchange.place_market_order(
            client_order_id="eth-1", product_id="ETH-GBP", side=Side.BUY, amount=Decimal("10.00")
        )
        assert (bought.product_id, bought.funds) == ("ETH-GBP", Decimal("10.00"))
        assert bought.filled_size == Decimal("0.00497512")
        sold = await exchange.place_market_order(
            client_order_id="eth-2", product_id="ETH-GBP", side=Side.SELL, amount=Decimal("5.00")
        )
        # £5.00 / 2000.00 = 0.0025 ETH, sent as base_size
        assert sold.filled_size == Decimal("0.0025")
        wallet = await exchange.wallet()
        assert list(wallet.to_json_dict()) == ["gbp", "btc", "eth"]
        assert wallet.balance("ETH").available == Decimal("0.00247512")
        assert wallet.btc.available == Decimal("0")
        assert wallet.gbp.available == Decimal(fake_coinbase.balances()["GBP"]["available"])
        # £50.00 is more ETH than is held at the price now: the holdings are sold, and the
        # order says so (issue 23: never refused for a dip between deciding and placing).
        capped = await exchange.place_market_order(
            client_order_id="eth-3", product_id="ETH-GBP", side=Side.SELL, amount=Decimal("50.00")
        )
        assert capped.filled_size == Decimal("0.00247512")
        assert capped.note == (
            "sold the 0.00247512 ETH held: £50.00 at £2,000.00 is 0.02500000 ETH, more than held"
        )
        assert (await exchange.wallet()).balance("ETH").available == Decimal("0")
    finally:
        await exchange.close()


async def test_lists_the_periods_orders_and_fills_page_by_page(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    """List Orders by start_date/end_date and List Fills by sequence timestamps, each followed
    by its cursor (one item a page here); an order the fills name that the list did not show
    is read by its ID, and one that ended with nothing filled is no trade."""
    server = fake_coinbase.server
    server.page_size = 1
    for key in ("old", "in-1", "in-2", "late-fill"):
        server.create_order_directly(key, "10.00")
    server.create_order_directly("unfilled", "10.00", no_fill=True)
    now = datetime.now(UTC)
    old = server.orders[server.by_client_id["old"]]
    old.created = now - timedelta(days=3)  # made and filled before the period
    late = server.orders[server.by_client_id["late-fill"]]
    late.created, late.filled_at = now - timedelta(days=3), now  # made before, filled in it

    orders = await coinbase.list_orders(now - timedelta(days=1), now + timedelta(seconds=5))

    assert sorted(o.client_order_id for o in orders) == ["in-1", "in-2", "late-fill"]
    assert all(o.settled and o.executed_value == Decimal("9.9502205952") for o in orders)
    listed = [r for r in server.requests if r.endswith("/orders/historical/batch")]
    fills = [r for r in server.requests if r.endswith("/orders/historical/fills")]
    assert (len(listed), len(fills)) == (3, 3)  # 3 orders in the period, 3 fills, 1 a page
    assert server.requests.count(f"GET /api/v3/brokerage/orders/historical/{late.order_id}") == 1
