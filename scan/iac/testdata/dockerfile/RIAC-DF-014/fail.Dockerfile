FROM alpine:3.22
COPY app /app
RUN chmod -R 777 /app
USER 1000
