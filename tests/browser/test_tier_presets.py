"""A CRM manager loads the share rulebook's tiers in the web client and the
next evaluation proposes by them: share of company revenue above 5 % makes
a strategic partner, above 3 % a key customer."""

from decimal import Decimal

import pytest

from .sao import query

MENU = "Customer Relationship / Configuration / Load Tier Preset"


def waiting(erp):
    return [
        row[0]
        for row in query(
            erp,
            "SELECT id FROM crm_evaluation WHERE state IN ('computed', 'approved')",
        )
    ]


def run_preset(admin, preset):
    "Load a preset over RPC, as the wizard's buttons do"
    context = admin.context
    wizard_id, _, _ = admin.call("wizard.crm.tier.preset.create", context)
    try:
        data = {"start": {"preset": preset, "company": context["company"]}}
        for state in ["preview", "load"]:
            admin.call(
                "wizard.crm.tier.preset.execute", wizard_id, data, state, context
            )
    finally:
        admin.call("wizard.crm.tier.preset.delete", wizard_id, context)


@pytest.fixture
def no_waiting_evaluation(admin, erp):
    """Cancel the evaluations waiting for approval; afterwards restore the
    elevator-parts tiers and recompute them"""
    ids = waiting(erp)
    admin.model("crm.evaluation", "cancel", ids)
    yield ids
    if waiting(erp):
        admin.model("crm.evaluation", "cancel", waiting(erp))
    run_preset(admin, "elevator")
    admin.model("crm.evaluation", "draft", ids)
    admin.model("crm.evaluation", "compute", ids)


def test_manager_loads_the_share_preset(sao, admin, erp, no_waiting_evaluation):
    sao.login("admin")
    sao.open_menu(MENU)
    sao.select("preset", "Share Rulebook")
    sao.button("Show Changes")
    sao.wait(
        lambda d: (
            "Major: deactivated" in sao.field_value("changes")
            and "Share of Company Revenue % > 5.00" in sao.field_value("changes")
        ),
        "the wizard did not show what changes",
    )
    sao.button("Load")
    sao.wait(
        lambda d: (
            query(erp, "SELECT active FROM crm_tier WHERE code = 'major'")[0][0] == 0
        ),
        "the preset was not loaded",
    )

    # The evaluation the manager computes next proposes by the shares.
    (evaluation_id,) = no_waiting_evaluation[:1]
    admin.model("crm.evaluation", "draft", [evaluation_id])
    sao.open_record("crm.evaluation", evaluation_id)
    sao.button("Compute")
    sao.wait(
        lambda d: (
            query(erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id)[
                0
            ][0]
            == "computed"
        ),
        "the evaluation was not computed",
    )
    lines = query(
        erp,
        "SELECT p.name, CAST(l.revenue AS TEXT), t.code FROM crm_evaluation_line l "
        "JOIN party_party p ON p.id = l.party "
        "LEFT JOIN crm_tier t ON t.id = l.proposed_tier "
        "WHERE l.evaluation = ?",
        evaluation_id,
    )
    total = sum(Decimal(r) for _, r, _ in lines if Decimal(r) > 0)
    for name, revenue, code in lines:
        share = Decimal(revenue) * 100 / total
        if share > 5:
            assert code == "strategic", (name, share, code)
        elif share > 3:
            assert code == "key", (name, share, code)
        else:
            assert code not in {"strategic", "key", "major"}, (name, share, code)
    partner = max(lines, key=lambda r: Decimal(r[1]))[0]
    sao.tab("Customers")
    sao.wait_text(partner)
    sao.wait_text("Share of Company Revenue % > 5.00")
