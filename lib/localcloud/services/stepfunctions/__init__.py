"""AWS Step Functions: state machines (STANDARD, EXPRESS), their versions and aliases, executions run by the
``localcloud.asl`` engine (redrive, synchronous EXPRESS runs, TestState), Map Runs, task tokens."""
