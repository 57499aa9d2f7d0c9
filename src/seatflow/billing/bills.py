"""One subscription's lines on one draft (SPEC §8, revised 2026-12), pure: what the change log says the charges an
invoice gathers (and the earlier ones a change not yet billed touches) should bill, less what issued documents
billed for them, written as layers.

What a charge should bill is read from the change log as the invoice knows it: every change billed already and
those still open up to the cycle's last day (a later one is a later invoice's), so every line is priced with the
price in force on the days it covers. A reduction inside a charge already paid in advance is credited only when the
contract processes refunds or the seats removed were inside their refund window (Microsoft refunds the reseller);
otherwise the charge keeps them until its end. In arrears a reduction inside the cycle just ended is always credited
(nothing was paid yet); an expiry always is (a subscription that ends is billed to its term end).

The difference is written as layers: at each day where it changes, a line from that day to the end of the run of
days gathered by one contract cycle at one price (the recurring line of a charge first billed, then a prorated line
for each change).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from seatflow.billing.amounts import round_money
from seatflow.billing.charges import Charge, ChargePlan, refundable_seats
from seatflow.billing.cycles import Cycle
from seatflow.billing.models import LineKind
from seatflow.billing.rows import Billed, ChangeRow, ContractTerms, DraftLine, SubscriptionRow

ONE_DAY = timedelta(days=1)


def charge_plan(contract: ContractTerms, subscription: SubscriptionRow) -> ChargePlan:
    """How ``subscription`` is charged on ``contract``: its own cycles, from its start (or the contract's) to the
    contract's last day when it ends. (Its own last day, when it does not renew, is where what it should bill
    drops to nothing: a charge billed beyond it is credited.)"""
    schedule = contract.schedule
    first = max(subscription.start or schedule.start, schedule.start)
    anchor = subscription.anchor or schedule.start
    return ChargePlan(anchor, subscription.plan_months, subscription.term_months, first, schedule.ends)


def reach(contract: ContractTerms, subscription: SubscriptionRow, changes: Sequence[ChangeRow], earliest: date) -> date:
    """The earliest day a draft from ``earliest`` on may need to know: the first day of the charge that holds the
    earliest change not yet billed (it is billed again from there), and the refund window of a reduction."""
    day = earliest
    waiting = [c.effective_date for c in changes if c.open]
    if waiting:
        start = contract.schedule.start
        first = max(min(waiting), subscription.start or start, start)
        if first == max(subscription.start or start, start):
            day = min(day, first)  # its first day starts its first charge
        else:
            plan = charge_plan(contract, subscription)
            holding = plan.charge(plan.index_of(first))
            day = min(day, holding.start if holding is not None else first)
    window = subscription.window_days
    if window > 0:
        reductions = [c.effective_date for c in changes if c.delta < 0 and not c.expiry and c.effective_date >= day]
        if reductions:
            day = min(day, min(reductions) - timedelta(days=window))
    return day


@dataclass
class _Layer:
    kind: LineKind
    quantity: int
    price: Decimal
    start: date
    display: date
    change_id: uuid.UUID | None
    end: date = date.min


@dataclass(frozen=True)
class _Interval:
    start: date
    end: date
    quantity: int
    price: Decimal
    billed: dict[Decimal, int]


class SubscriptionBill:
    """One subscription's lines on one draft."""

    def __init__(
        self,
        contract: ContractTerms,
        cycle: Cycle,
        subscription: SubscriptionRow,
        changes: Sequence[ChangeRow],
        prior: Sequence[Billed],
        *,
        settled: set[uuid.UUID],
        behind: bool,
    ) -> None:
        self.contract, self.cycle, self.subscription, self.prior = contract, cycle, subscription, prior
        self.by_months, self.behind = contract.by_months, behind
        self.plan = charge_plan(contract, subscription)
        # The change log as this cycle's invoice knows it: every change billed already, and those still open up to
        # its last day (a later one is a later invoice's), in the order they took effect (then were recorded).
        self.fresh: list[ChangeRow] = []
        known: list[ChangeRow] = []
        quantity = subscription.quantity
        first_price: ChangeRow | None = None
        for change in changes:
            if change.price is not None and (first_price is None or change.effective_date < first_price.effective_date):
                first_price = change
            if change.open and change.id not in settled:
                if change.effective_date > cycle.end:
                    quantity -= change.delta
                    continue
                self.fresh.append(change)
            known.append(change)
        known.sort(key=lambda c: c.effective_date)
        self.known, self.quantity_then = known, quantity
        self.price_before = first_price.price_before if first_price is not None else None
        self.prices = [c for c in known if c.price is not None]
        self.accounted: list[uuid.UUID] = []

    # --- the change log as this invoice knows it -----------------------------------------------------------

    def quantity_at(self, day: date) -> int:
        """At the end of ``day``."""
        quantity = self.quantity_then
        for change in self.known:
            if change.effective_date > day:
                quantity -= change.delta
        return quantity

    def price_at(self, day: date) -> Decimal:
        found: Decimal | None = None
        for change in self.prices:
            if change.effective_date > day:
                break
            found = change.price
        if found is None:
            found = self.price_before if self.price_before is not None else self.subscription.unit_price
        return found

    # --- which charges, and what they should bill -------------------------------------------------------------

    def lines(self, billed_from: date) -> list[DraftLine]:
        fresh = self.fresh
        self.accounted = [] if self.behind else [c.id for c in fresh]
        gathered = [(charge, self.cycle) for charge in self.plan.starting_between(self.cycle.start, self.cycle.end)]
        if fresh and not self.behind:
            # A change not yet billed touches the charge holding its day and every later one: those gathered by
            # earlier cycles are billed again, less what was billed for them. (Not by a voided cycle billed again
            # behind later ones: the contract's next invoice does that, and settles the change.)
            earliest = max(min(c.effective_date for c in fresh), self.plan.first)
            if earliest == self.plan.first:  # its first day: its first charge starts there
                begin = max(billed_from, earliest)
            else:
                holding = self.plan.charge(self.plan.index_of(earliest))
                begin = max(billed_from, holding.start if holding is not None else earliest)
            if begin < self.cycle.start:
                older = self.plan.starting_between(begin, self.cycle.start - ONE_DAY)
                gathered[:0] = [(charge, self._gathering(charge)) for charge in older]
        if not gathered:
            return []
        if len(gathered) == 1 and not self.prior:
            single = self._single(gathered[0][0])
            if single is not None:
                return single
        marks = {} if self.behind else self._marks(fresh, [charge for charge, _ in gathered])
        layers = self._layers(gathered, marks)
        return self._draft_lines(layers, [charge for charge, _ in gathered])

    def _single(self, charge: Charge) -> list[DraftLine] | None:
        """The usual case, without the general machinery: one charge first billed, nothing changing inside it."""
        ends = self.subscription.last_day
        if ends is not None and ends < charge.end:
            return None
        if any(charge.start < change.effective_date <= charge.end for change in self.known):
            return None
        quantity = self.quantity_at(charge.start)
        if quantity == 0:
            return []
        price = self.price_at(charge.start)
        amount = round_money(
            charge.amount(quantity, price, charge.start, charge.end, self.by_months), self.contract.currency
        )
        if amount == 0:
            return []
        subscription = self.subscription
        return [
            DraftLine(
                LineKind.RECURRING,
                subscription.id,
                subscription.product_id,
                None,
                subscription.product_name,
                charge.start,
                charge.end,
                quantity,
                price,
                amount,
            )
        ]

    def _gathering(self, charge: Charge) -> Cycle:
        return self.contract.schedule.cycle_containing(charge.start) or self.cycle

    def _marks(self, fresh: list[ChangeRow], charges: list[Charge]) -> dict[date, tuple[date, uuid.UUID]]:
        """For a prorated line starting on a day (a unit's first day): the change it bills and the day to show."""
        marks: dict[date, tuple[date, uuid.UUID]] = {}
        for change in fresh:  # in order: the last recorded change of a day names the line
            for charge in charges:
                if charge.start <= change.effective_date <= charge.end:
                    day = charge.unit_start(change.effective_date, self.by_months)
                    shown = min(marks[day][0], change.effective_date) if day in marks else change.effective_date
                    marks[day] = (shown, change.id)
                    break
        return marks

    def _credited(self, change: ChangeRow, gathering: Cycle) -> int:
        """How many of the seats a reduction inside a charge removes are credited for the rest of it."""
        seats = -change.delta
        contract = self.contract
        if change.expiry or contract.refunds or (not contract.advance and change.effective_date <= gathering.end):
            return seats
        window = self.subscription.window_days
        if window <= 0:
            return 0
        first = change.effective_date - timedelta(days=window - 1)
        steps = []
        for other in self.known:
            if other is change:
                break
            if other.delta and other.effective_date >= first:
                steps.append((other.effective_date, other.delta))
        return refundable_seats(
            steps,
            before=self.quantity_at(first - ONE_DAY),
            window_first=first,
            term_start=self.plan.term_start_on_or_before(change.effective_date),
            seats=seats,
        )

    def _target(self, charge: Charge, gathering: Cycle, paid: bool) -> list[tuple[date, int, Decimal]]:
        """(first day of a unit, quantity, price) wherever what the charge should bill changes, from its start.

        A reduction on the charge's first day is in its starting quantity, unless the charge was billed (``paid``)
        before it was known: then it is a reduction inside a paid charge like any later one."""
        actual, price = self.quantity_at(charge.start - ONE_DAY), self.price_at(charge.start)
        kept = 0  # seats removed without a credit: paid for until the charge ends
        points = [(charge.start, actual, price)]
        ends = self.subscription.last_day
        if ends is not None and ends < charge.start:
            return [(charge.start, 0, price)]  # after its term end: nothing
        for change in self.known:
            if not charge.start <= change.effective_date <= charge.end:
                continue
            if ends is not None and change.effective_date > ends:
                break
            if change.price is not None:
                price = change.price
            if change.delta < 0 and (paid or change.effective_date > charge.start):
                kept += -change.delta - self._credited(change, gathering)
            actual += change.delta
            day = charge.unit_start(change.effective_date, self.by_months)
            if points[-1][0] == day:
                points[-1] = (day, actual + kept, price)
            else:
                points.append((day, actual + kept, price))
        if ends is not None and ends < charge.end:  # its term ends inside the charge: billed to that day
            day = charge.unit_start(ends + ONE_DAY, self.by_months)
            if points[-1][0] == day:
                points[-1] = (day, 0, points[-1][2])
            else:
                points.append((day, 0, points[-1][2]))
        return points

    def _intervals(self, charge: Charge, gathering: Cycle, paid: bool) -> list[_Interval]:
        by_months = self.by_months
        billed = []
        for line in self.prior:
            first, last = max(line.period_start, charge.start), min(line.period_end, charge.end)
            if first <= last:
                billed.append(
                    (
                        charge.unit_start(first, by_months),
                        charge.unit_end(last, by_months),
                        line.quantity,
                        line.unit_price,
                    )
                )
        points = self._target(charge, gathering, paid)
        if not billed and len(points) == 1:
            return [_Interval(charge.start, charge.end, points[0][1], points[0][2], {})]
        cuts = {day for day, _, _ in points}
        for first, last, _, _ in billed:
            cuts.add(first)
            if last < charge.end:
                cuts.add(last + ONE_DAY)
        days = sorted(cuts)
        intervals = []
        at = 0
        for position, day in enumerate(days):
            while at + 1 < len(points) and points[at + 1][0] <= day:
                at += 1
            covered: dict[Decimal, int] = {}
            for first, last, quantity, price in billed:
                if first <= day <= last:
                    covered[price] = covered.get(price, 0) + quantity
            end = days[position + 1] - ONE_DAY if position + 1 < len(days) else charge.end
            intervals.append(_Interval(day, end, points[at][1], points[at][2], covered))
        return intervals

    def _layers(self, gathered: list[tuple[Charge, Cycle]], marks: dict[date, tuple[date, uuid.UUID]]) -> list[_Layer]:
        """What should be billed less what was, as lines: at each day where it changes, a layer of the change to the
        end of the run (the days in a row one contract cycle gathers at one price). A charge with nothing to bill
        and nothing billed (after the subscription's end) is left out, and a run stops before it."""
        done: list[_Layer] = []
        opened: list[_Layer] = []
        level: dict[Decimal, int] = {}
        run: tuple[date, Decimal] | None = None
        last = date.min
        for charge, gathering in gathered:
            paid_before = any(
                line.period_start <= charge.end and line.period_end >= charge.start for line in self.prior
            )
            intervals = self._intervals(charge, gathering, paid_before)
            if not paid_before and not any(interval.quantity for interval in intervals):
                continue
            if last + ONE_DAY != charge.start:  # a gap: the run ends before it
                for layer in opened:
                    layer.end = last
                done.extend(opened)
                opened, level, run = [], {}, None
            for interval in intervals:
                first_of_run = run != (gathering.start, interval.price)
                if first_of_run:
                    for layer in opened:
                        layer.end = interval.start - ONE_DAY
                    done.extend(opened)
                    opened, level, run = [], {}, (gathering.start, interval.price)
                prices = {interval.price, *interval.billed, *(p for p, q in level.items() if q)}
                for price in sorted(prices):
                    goal = (interval.quantity if price == interval.price else 0) - interval.billed.get(price, 0)
                    step = goal - level.get(price, 0)
                    if not step:
                        continue
                    level[price] = goal
                    if first_of_run and not paid_before:
                        opened.append(_Layer(LineKind.RECURRING, step, price, interval.start, interval.start, None))
                    else:
                        shown, change_id = marks.get(interval.start, (interval.start, None))
                        opened.append(_Layer(LineKind.PRORATION, step, price, interval.start, shown, change_id))
                last = interval.end
        for layer in opened:
            layer.end = last
        done.extend(opened)
        return done

    def _draft_lines(self, layers: list[_Layer], charges: list[Charge]) -> list[DraftLine]:
        order = sorted(range(len(layers)), key=lambda i: (layers[i].kind is not LineKind.RECURRING, layers[i].start, i))
        merged: list[tuple[_Layer, Decimal, list[tuple[int, int]]]] = []
        for position in order:
            layer = layers[position]
            amount, counted = Decimal(0), []
            for charge in charges:
                first, last = max(layer.start, charge.start), min(layer.end, charge.end)
                if first <= last:
                    amount += charge.amount(layer.quantity, layer.price, first, last, self.by_months)
                    units = charge.unit(last, self.by_months) - charge.unit(first, self.by_months) + 1
                    counted.append((units, charge.units(self.by_months)))
            if merged:
                previous, total, spans = merged[-1]
                if (previous.kind, previous.quantity, previous.price) == (layer.kind, layer.quantity, layer.price) and (
                    previous.end + ONE_DAY == layer.start
                ):
                    previous.end = layer.end
                    merged[-1] = (previous, total + amount, spans + counted)
                    continue
            merged.append((layer, amount, counted))
        lines = []
        for layer, amount, counted in merged:
            rounded = round_money(amount, self.contract.currency)
            if rounded == 0:
                continue
            lines.append(self._line(layer, rounded, counted))
        return lines

    def _line(self, layer: _Layer, amount: Decimal, counted: list[tuple[int, int]]) -> DraftLine:
        subscription = self.subscription
        description = subscription.product_name
        if layer.kind is LineKind.PRORATION and counted:
            units, total = counted[0]
            how = f"{units}/{total} {'months' if self.by_months else 'days'}"
            if len(counted) > 1:
                how += f" and {len(counted) - 1} later cycle{'s' if len(counted) > 2 else ''}"
            sign = "+" if layer.quantity > 0 else "-"
            description = f"{description}: {sign}{abs(layer.quantity)} from {layer.display} ({how})"
        return DraftLine(
            kind=layer.kind,
            subscription_id=subscription.id,
            product_id=subscription.product_id,
            change_id=layer.change_id,
            description=description,
            period_start=layer.display,
            period_end=layer.end,
            quantity=layer.quantity,
            unit_price=layer.price,
            amount=amount,
        )
