FROM alpine:3.22
ENV APP_ENV=production \
    DATABASE_PASSWORD="hunter2-prod"
USER 1000
