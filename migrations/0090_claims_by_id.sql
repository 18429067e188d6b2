-- Claims find their items by id (issue 11).
--
-- A claim's content read and its lease heartbeats now name the claimed
-- items by id (the claim returns them) as well as by claim token, so no
-- query needs an index on the token. Claiming an item rewrites its queue
-- row (a new claim token and lease end), which added an entry to every
-- index of delivery_queue; one index fewer is one entry fewer per claimed
-- item (two per task: the task and its sender's notification).
DROP INDEX delivery_queue_token_idx;
