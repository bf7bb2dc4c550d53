-- Deliveries already accepted, by id: a redelivery finds its id here and is not processed again.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- One row per (repository, branch, commit) ever pushed; the report of its latest check.
CREATE TABLE deploys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo TEXT NOT NULL,
    branch TEXT NOT NULL,
    sha TEXT NOT NULL,
    clone_url TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    checked_at BIGINT,
    verdict TEXT,
    summary TEXT,
    report TEXT,
    contents TEXT,
    UNIQUE (repo, branch, sha)
);

-- The issue keys each deploy names, for rechecks when an issue changes.
CREATE TABLE deploy_issues (
    issue_key TEXT NOT NULL,
    deploy_id BIGINT NOT NULL REFERENCES deploys (id),
    PRIMARY KEY (issue_key, deploy_id)
);

-- The latest push to each deploy branch: the open deploys.
CREATE TABLE heads (
    repo TEXT NOT NULL,
    branch TEXT NOT NULL,
    deploy_id BIGINT NOT NULL REFERENCES deploys (id),
    PRIMARY KEY (repo, branch)
);

-- Work to do on a deploy: queued -> running (leased) -> done, or superseded while still queued.
CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deploy_id BIGINT NOT NULL REFERENCES deploys (id),
    reason TEXT NOT NULL,
    delivery_id TEXT,
    state TEXT NOT NULL,
    run_after BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    pending_posted BIGINT NOT NULL DEFAULT 0,
    final_state TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_open ON jobs (state, run_after) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_deploy ON jobs (deploy_id);
