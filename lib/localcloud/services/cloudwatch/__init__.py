"""localcloud's Amazon CloudWatch: metrics and metric alarms that really evaluate.

``api`` (wire, JSON 1.0, query-compatible errors) → ``backend`` (alarms, the evaluator thread) over ``metricops``
(PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics) and ``store`` (datapoints as statistic sets);
``evaluation`` decides an alarm's state and writes AWS's reasons; ``models`` holds alarms and history items.
Services' own metrics (``AWS/SageMaker``) arrive through the server's :class:`~localcloud.core.metrics.MetricHub`.
"""
