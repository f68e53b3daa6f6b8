"""The fraud demo's feature views: card-holder spend, merchant traffic and the user profile."""

from datetime import date, timedelta

from feature_defs.entities import merchant, user
from feature_defs.sources import transactions, user_profiles
from pitstop import Aggregation, Feature, FeatureView

user_transactions = FeatureView(
    "user_transactions",
    entities=[user],
    source=transactions,
    aggregations=[
        Aggregation("count", windows=["1d", "7d", "30d"]),
        Aggregation("sum", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("avg", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("max", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("count_distinct", column="merchant_id", windows=["7d", "30d"]),
    ],
    version=1,
    owner="fraud-team@example.com",
    description="How much, how often and where each card holder spends",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),  # the Airflow DAG's first data interval (daily; catchup off)
)

merchant_transactions = FeatureView(
    "merchant_transactions",
    entities=[merchant],
    source=transactions,
    aggregations=[
        Aggregation("count", windows=["1d", "7d"]),
        Aggregation("sum", column="amount", windows=["7d"]),
        Aggregation("approx_count_distinct", column="user_id", windows=["7d"]),
        Aggregation("count", name="lifetime_tx", windows=[None]),
    ],
    version=1,
    owner="fraud-team@example.com",
    description="Traffic and customer reach of each merchant",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),
)

user_profile = FeatureView(
    "user_profile",
    entities=[user],
    source=user_profiles,
    features=[
        Feature("country", "string"),
        Feature("credit_limit", "float64"),
        Feature("is_verified", "bool"),
    ],
    ttl=timedelta(days=365),
    version=1,
    owner="fraud-team@example.com",
    description="The card holder's profile as known at each time (corrections honoured)",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),
)
