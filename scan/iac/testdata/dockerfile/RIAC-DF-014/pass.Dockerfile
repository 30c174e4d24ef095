FROM alpine:3.22
COPY --chmod=755 app /app
RUN chmod 0755 /app
USER 1000
