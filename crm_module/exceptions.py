from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class TierValidationError(ValidationError):
    pass


class TierInUseError(AccessError):
    pass


class WorkflowStateError(AccessError):
    pass


class ReportNotFoundError(UserError):
    pass


class EvaluationOverrideError(ValidationError):
    pass


class EvaluationPeriodError(ValidationError):
    pass


class MissingRateError(UserError):
    pass


class SalesSummaryError(UserError):
    "Sales summaries that cannot be stored as sent"

    def __init__(self, message, description='', domain=None, row_errors=None):
        super().__init__(message, description, domain)
        # the refused rows: dicts of the row index, the field and a message
        self.row_errors = row_errors or []


class ConfigurationValidationError(ValidationError):
    pass


class PartyDesignationError(ValidationError):
    pass


class ComplaintTimeLimitError(ValidationError):
    pass


class ComplaintSatisfactionError(ValidationError):
    pass


class ComplaintLockedError(AccessError):
    pass


class ComplaintDeleteError(AccessError):
    pass


class ComplaintApprovalError(UserError):
    pass


class ComplaintResolveError(UserError):
    pass


class ComplaintCloseError(UserError):
    pass


class ComplaintCancelError(UserError):
    pass


class ComplaintReopenError(UserError):
    pass


class ComplaintLineError(ValidationError):
    pass


class VisitValidationError(ValidationError):
    pass


class VisitPolicyError(ValidationError):
    pass


class SponsorError(ValidationError):
    pass


class PlanValidationError(ValidationError):
    pass


class CareDateError(ValidationError):
    pass


class ReminderError(AccessError):
    pass


class ReportPeriodError(UserError):
    pass


class ReportNoFiguresError(UserError):
    pass


class ClassificationError(ValidationError):
    pass


class PresetError(ValidationError):
    pass


class CareActionError(ValidationError):
    pass


class FestivalError(ValidationError):
    pass


class EventGuestError(ValidationError):
    pass


class NewsError(ValidationError):
    pass


class PlanRevisionError(ValidationError):
    pass


class ComplaintReadError(UserError):
    pass


class ComplaintEmailError(UserError):
    pass
