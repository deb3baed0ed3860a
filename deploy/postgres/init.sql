-- One database per service (DESIGN.md section 2: one service, one event store).
-- Run by the postgres:15 image on its first start (/docker-entrypoint-initdb.d) as
-- POSTGRES_USER, who becomes the owner. Written for psql (\gexec), so it is safe to rerun:
--   psql postgresql://jingkang:jingkang@HOST:5432/postgres -f deploy/postgres/init.sql
SELECT format('CREATE DATABASE %I ENCODING ''UTF8''', name)
  FROM unnest(ARRAY['jingkang_intake', 'jingkang_assessment', 'jingkang_referral',
                    'jingkang_funding', 'jingkang_notification', 'jingkang_supervision']) AS name
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name) \gexec
