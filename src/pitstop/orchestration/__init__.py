"""Plan -> Airflow DAGs (imports only airflow.sdk and the Spark provider)."""
