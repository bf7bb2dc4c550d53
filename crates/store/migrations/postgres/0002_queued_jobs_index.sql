-- The queued jobs by deploy: superseding and joining a queued job look only at the queue, whatever the history.
CREATE INDEX jobs_queued ON jobs (deploy_id) WHERE state = 'queued';
