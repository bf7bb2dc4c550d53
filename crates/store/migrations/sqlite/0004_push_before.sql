-- The commit a pushed branch was at before the push (a webhook's `before`). A push whose own commit is the `before`
-- of a push already accepted on its branch came late: it is older than that one, so it supersedes nothing and is
-- superseded at once.
ALTER TABLE jobs ADD COLUMN before_sha TEXT;
CREATE INDEX jobs_before ON jobs (before_sha) WHERE before_sha IS NOT NULL;
