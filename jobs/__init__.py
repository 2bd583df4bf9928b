"""RQ jobs. A job is a plain function taking ids and dates; it reloads its rows and is safe to run twice.

- `queue.py`: enqueueing (never loses work: the database is the truth) and the app context;
- `outbox.py`: sending emails and LINE pushes;
- `line_events.py`: storing, dispatching and processing webhook events;
- `sweep.py`: the deadlines sweep (`models.deadlines`) and the housekeeping after it;
- `scheduler.py`: the scheduler process.
"""
