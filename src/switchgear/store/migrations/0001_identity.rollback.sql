DROP TABLE identity_revision; DROP TABLE grants; DROP TABLE api_keys; DROP TABLE team_members; DROP TABLE principals; DROP TABLE teams; DROP TABLE orgs;
