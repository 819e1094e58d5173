"""The fields of a complaint sent through the API and their limits.

The categories and severities are the ERP's (crm_module/complaint.py,
CATEGORIES and SEVERITIES); the ERP checks them again when it creates the
complaint. The channel is always the ERP's ``web`` (Web/API).
"""

CATEGORIES = ("quality", "service", "delivery", "billing", "technical", "other")
SEVERITIES = ("general", "serious", "very_serious")
COMPLAINT_CHOICE_LENGTH = 16
CONTACT_LENGTH = 128
DESCRIPTION_LENGTH = 10000
# What a complaint is: every field the sender gives but its source and id.
# The same content sent again changes nothing; other content is a conflict.
CONTENT_FIELDS = (
    "customer",
    "received_at",
    "category",
    "severity",
    "description",
    "contact",
)
# Where the forward to the ERP stands (sync_api.models.ComplaintIntake).
PENDING, UNMATCHED, REFUSED, FORWARDED = "pending", "unmatched", "refused", "forwarded"
