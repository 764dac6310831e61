-- Runs once, when the PostgreSQL container initialises an empty data directory
-- (mounted into /docker-entrypoint-initdb.d by compose.yaml). One server, one database
-- per subgraph; each subgraph's migrations create its tables (`python -m kindred.migrate`).
CREATE DATABASE user_db;
CREATE DATABASE queuing_db;
CREATE DATABASE interaction_db;
CREATE DATABASE history_db;
CREATE DATABASE communication_db;
CREATE DATABASE notification_db;
CREATE DATABASE moderation_db;
CREATE DATABASE analytics_db;
CREATE DATABASE admin_db;
CREATE DATABASE subscription_db;
