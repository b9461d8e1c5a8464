"""The end-of-shift summary, as people read it and as figures for the bench."""

from __future__ import annotations

from typing import Any

from server.simulate.run import Result, percentile_ms


def figures(result: Result) -> dict[str, Any]:
    t = result.totals
    kinds = sum((tab.shift.kinds for tab in result.tablets), start=type(result.faults)())
    return {
        "tablets": result.options.tablets, "inspector_tablets": sum(1 for tab in result.tablets if tab.team),
        "items_recorded": sum(tab.shift.items for tab in result.tablets),
        "photos_taken": sum(tab.shift.photos for tab in result.tablets),
        "shift_kinds": dict(sorted(kinds.items())),
        "items_sent": t.sent, "accepted": t.accepted, "flagged": t.flagged, "rejected": t.rejected,
        "duplicates": t.duplicates, "photos_stored": t.photos_uploaded + t.photos_already_held,
        "photos_failed": t.photos_failed, "review_tasks": result.review_tasks, "batches": t.batches,
        "retries": t.retries, "receipts_used": t.receipts_used, "resends": t.resends,
        "errors": len(t.errors), "faults_injected": dict(sorted(result.faults.items())),
        "shift_s": round(result.shift_s, 2), "rush_s": round(result.rush_s, 3),
        "items_per_s": round(t.sent / result.rush_s, 1) if result.rush_s else 0.0,
        "items_answered_s": round(result.items_s, 3) if result.items_s else None,
        "push_items_per_s": round(t.sent / result.items_s, 1) if result.items_s else None,
        "batch_p50_ms": percentile_ms(t.batch_latencies_s, 50), "batch_p99_ms": percentile_ms(t.batch_latencies_s, 99),
        "reconciled": result.reconciliation.ok and not result.unsettled,
        "reconciliation": {
            "items_checked": result.reconciliation.items_checked,
            "photos_checked": result.reconciliation.photos_checked,
            "server_items": result.reconciliation.server_items,
            "earlier_items_left_out": result.reconciliation.earlier_items,
            "problems": dict(result.reconciliation.problem_kinds), "unsettled_tablets": result.unsettled,
        },
    }


def summary_text(result: Result) -> str:
    f = figures(result)
    lines = [
        f"End of shift: {f['tablets']} reader tablets and {f['inspector_tablets']} inspector tablets, "
        f"{f['items_recorded']} items and {f['photos_taken']} photos recorded "
        f"({', '.join(f'{k} {v}' for k, v in f['shift_kinds'].items())}).",
        f"Sync: {f['items_sent']} items sent in {f['rush_s']:.1f} s ({f['items_per_s']:.0f} items/s)"
        + (f", every item answered after {f['items_answered_s']:.1f} s ({f['push_items_per_s']:.0f} items/s)"
           if f["items_answered_s"] else "")
        + f"; {f['batches']} batches, batch latency p50 {_ms(f['batch_p50_ms'])} / p99 {_ms(f['batch_p99_ms'])}.",
        f"  accepted {f['accepted']}, flagged {f['flagged']}, rejected {f['rejected']}, "
        f"duplicates answered {f['duplicates']}; review tasks {f['review_tasks']}; "
        f"photos stored {f['photos_stored']}" + (f", photos refused {f['photos_failed']}" if f['photos_failed'] else ""),
        f"  retries {f['retries']}, answers learnt from receipts {f['receipts_used']}, batches resent {f['resends']}"
        + (f"; faults injected: {', '.join(f'{k} {v}' for k, v in f['faults_injected'].items())}"
           if f["faults_injected"] else ""),
    ]
    rec = result.reconciliation
    if result.ok:
        lines.append(f"Reconciliation OK: all {rec.items_checked} items in {len(result.tablets)} outboxes are on the "
                     f"server exactly once with the tablet's verdict ({rec.server_items} stored, rejected ones absent);"
                     f" {rec.photos_checked} photos held."
                     + (f" ({rec.earlier_items} items from earlier runs left out.)" if rec.earlier_items else ""))
    else:
        lines.append(f"RECONCILIATION FAILED: {len(rec.problems)} problems "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(rec.problem_kinds.items()))})"
                     + (f"; tablets not settled: {', '.join(result.unsettled)}" if result.unsettled else ""))
        lines += [f"  - {p}" for p in rec.problems[:20]]
        if len(rec.problems) > 20:
            lines.append(f"  … and {len(rec.problems) - 20} more")
    stopped = sorted({tab.report.stopped for tab in result.tablets if tab.report.stopped})
    if stopped:
        lines.append("Tablets stopped: " + "; ".join(stopped))
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
