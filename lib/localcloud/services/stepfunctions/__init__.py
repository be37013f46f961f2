"""AWS Step Functions: state machines, executions run by the ``localcloud.asl`` engine, task tokens."""
