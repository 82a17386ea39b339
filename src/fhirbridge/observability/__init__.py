"""What the service tells its operators: the request id, the logs, the metrics."""
