"""kopf handlers and the pure logic behind them: planning children, status, events, metrics."""
