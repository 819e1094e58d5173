"""Browser tests of the ERP screens: what a user clicks in the web client
does what crm_module/doc/policy.md says, checked against the database
behind it."""

from .sao import query


def _tiered_customer(erp):
    "A strategic customer of the demo, with its tier's name"
    (row,) = query(
        erp,
        "SELECT p.id, p.name, t.name FROM party_party p "
        "JOIN crm_tier t ON t.id = p.crm_tier "
        "WHERE t.code = 'strategic' ORDER BY p.code LIMIT 1",
    )
    return row


def test_customer_shows_tier_and_history(sao, erp):
    party_id, party_name, tier_name = _tiered_customer(erp)
    (evaluation_name,) = query(
        erp,
        "SELECT e.name FROM crm_tier_history h "
        "JOIN crm_evaluation e ON e.id = h.evaluation WHERE h.party = ?",
        party_id,
    )[0]

    sao.login("admin")
    sao.open_record("party.party", party_id)
    sao.wait_value("name", party_name)
    sao.tab("Customer Relationship")
    sao.wait_value("crm_tier", tier_name)
    # the history list of the tab shows the change made by the evaluation
    sao.scroll_to("Tier History")
    sao.wait_text(evaluation_name, "the tier history is not listed")


def test_evaluation_compute_approve_apply(sao, erp):
    (evaluation_id, evaluation_name), *_ = query(
        erp,
        "SELECT id, name FROM crm_evaluation WHERE state = 'computed' ORDER BY id",
    )
    sao.login("admin")
    sao.open_record("crm.evaluation", evaluation_id)
    sao.wait_value("name", evaluation_name)

    sao.button("Reset to Draft")
    sao.wait(
        lambda d: (
            query(erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id)
            == [("draft",)]
        ),
        "the evaluation was not reset to draft",
    )
    sao.button("Compute")
    sao.wait(
        lambda d: (
            query(erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id)
            == [("computed",)]
        ),
        "the evaluation was not computed",
    )
    (lines,) = query(
        erp,
        "SELECT COUNT(*) FROM crm_evaluation_line WHERE evaluation = ?",
        evaluation_id,
    )[0]
    assert lines > 60

    # The manager overrides a line in the evaluation's own grid and saves.
    (line_id, party_name, tier_name), *_ = query(
        erp,
        "SELECT l.id, p.name, t.name FROM crm_evaluation_line l "
        "JOIN party_party p ON p.id = l.party "
        "JOIN crm_tier t ON t.code = 'strategic' "
        "WHERE l.evaluation = ? AND l.proposed_tier != t.id "
        "ORDER BY l.rank IS NULL, l.rank",
        evaluation_id,
    )
    reason = "Entered its global procurement this year"
    sao.edit_cell(party_name, "Override Tier", tier_name)
    sao.edit_cell(party_name, "Override Reason", reason)
    sao.save()
    sao.wait(
        lambda d: (
            query(
                erp,
                "SELECT t.name, l.override_reason FROM crm_evaluation_line l "
                "JOIN crm_tier t ON t.id = l.override_tier WHERE l.id = ?",
                line_id,
            )
            == [(tier_name, reason)]
        ),
        "the override was not saved",
    )
    assert query(
        erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id
    ) == [("computed",)]

    sao.button("Approve")
    sao.confirm()
    sao.wait(
        lambda d: (
            query(erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id)
            == [("approved",)]
        ),
        "the evaluation was not approved",
    )
    sao.button("Apply")
    sao.confirm()
    sao.wait(
        lambda d: (
            query(erp, "SELECT state FROM crm_evaluation WHERE id = ?", evaluation_id)
            == [("applied",)]
        ),
        "the evaluation was not applied",
    )
    # every party now has the tier the evaluation gave it
    mismatched = query(
        erp,
        "SELECT l.party FROM crm_evaluation_line l JOIN party_party p "
        "ON p.id = l.party WHERE l.evaluation = ? "
        "AND p.crm_tier != COALESCE(l.override_tier, l.proposed_tier)",
        evaluation_id,
    )
    assert mismatched == []


def test_party_form_in_chinese(sao, erp):
    party_id, _name, tier_name = _tiered_customer(erp)
    (translated_tier,) = query(
        erp,
        "SELECT value FROM ir_translation WHERE lang = 'zh_CN' "
        "AND name = 'crm.tier,name' AND src = ? LIMIT 1",
        tier_name,
    )[0]
    sao.login("zhang")
    sao.open_record("party.party", party_id)
    sao.tab("客户关系")
    sao.wait_value("crm_tier", translated_tier)
    sao.scroll_to("等级变更历史")
    sao.wait_text("等级变更历史", "the Chinese label of the tier history is missing")
