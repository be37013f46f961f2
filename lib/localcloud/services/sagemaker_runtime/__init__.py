"""SageMaker Runtime for localcloud: InvokeEndpoint answered by the in-process XGBoost model server."""
