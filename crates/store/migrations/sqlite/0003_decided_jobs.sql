-- A job's final status once its check is recorded (`final_state` and this description), before it is posted: a job
-- that failed only to post its status retries the post, not the check.
ALTER TABLE jobs ADD COLUMN final_description TEXT;
