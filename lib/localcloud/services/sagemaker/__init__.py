"""SageMaker for localcloud: real XGBoost training jobs and a real model server behind SageMaker's API."""
