-- The pending deliveries are scheduled in memory (queue.go): the file has
-- one process, which reads them back when it opens the file. Each index
-- keyed by a call's UUID put every delivery on pages of its own, one WAL
-- frame per index per delivery at each commit; only the indexes the API's
-- reads and the loading of pending deliveries need are kept. A call's
-- deliveries are found through its events (events_call, deliveries_event).
DROP INDEX deliveries_chain;
DROP INDEX deliveries_heads;
DROP INDEX deliveries_heads_due;
DROP INDEX deliveries_call;
-- The head column stays, always 0 now: dropping it would rewrite the whole
-- table of deliveries, in one transaction, when an existing file is
-- upgraded.
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status = 'pending';
