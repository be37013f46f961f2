"""localcloud's triggers and notifications: EventBridge rules that fire, EventBridge Scheduler schedules that fire,
S3 "Object Created" events sent to EventBridge, and SNS deliveries to HTTP(S), email and Lambda subscriptions.

moto stores rules, targets, buses, schedules, topics and subscriptions and serves their APIs; this package adds
what moto does not do faithfully: delivery. ``hooks`` attaches to moto where an event arises (a PutEvents entry, an
S3 object written, an SNS publish, a schedule created) and hands it to the server's ``backend``, which matches rules
(``patterns``), shapes each target's input (``inputs``), and delivers off the request thread (``delivery``:
Step Functions with the target's role, Lambda, SNS, SQS; retries and a dead-letter queue). ``clock`` fires
schedules (``expressions``: rate, cron and at). ``s3events`` builds the events S3 sends; ``notify`` delivers SNS
messages.
"""
