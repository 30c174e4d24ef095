FROM alpine:3.22
ENV APP_ENV=production \
    DATABASE_PASSWORD_FILE=/run/secrets/db_password
USER 1000
