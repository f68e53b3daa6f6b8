"""The fraud demo's training set, rebuilt by Airflow whenever all three views have materialized a new day."""

from pitstop import TrainingSet

fraud_training = TrainingSet(
    "fraud_training",
    spine_sql="""
        SELECT transaction_id, user_id, merchant_id, event_timestamp, amount > 500 AS label
        FROM parquet.`data/source/transactions`
        WHERE ds >= '2026-10-25'
    """,
    features=[
        "user_transactions:count_7d",
        "user_transactions:amount_avg_30d",
        "merchant_transactions:count_1d",
        "user_profile:country",
    ],
    output="data/training/fraud",
    owner="fraud-team@example.com",
    description="Every transaction of the last week with its card holder's and merchant's features as known "
                "just before it",
)
