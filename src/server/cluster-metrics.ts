// Metrics with several worker processes: each worker counts its own sessions in its Metrics
// registry; the primary, which serves /metrics, asks every worker for its series at scrape time
// and sums them (prom-client's AggregatorRegistry: counters add up, ferry_info is taken once).
// Nothing crosses the process boundary between scrapes.
import { AggregatorRegistry } from 'prom-client';
import type { Metrics } from '../control/metrics.js';

/** The primary's /metrics source: the workers' series, summed. */
class ClusterMetricsRegistry extends AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'> {
  override metrics(): Promise<string> {
    return this.clusterMetrics();
  }
}

export function clusterRegistry(): AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'> {
  return new ClusterMetricsRegistry();
}

/** In a worker: answer the primary's scrape requests with this worker's registry. */
export function serveWorkerMetrics(m: Metrics): void {
  new AggregatorRegistry(); // installs the worker's message listener (idempotent)
  AggregatorRegistry.setRegistries([m.registry]);
}
