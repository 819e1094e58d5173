from ..clock import allow_replay

# The scenarios freeze the day and replay the steps of complaints.
allow_replay()
