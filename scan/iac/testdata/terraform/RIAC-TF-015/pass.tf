resource "google_storage_bucket_iam_member" "ci" {
  bucket = google_storage_bucket.assets.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:ci@example.iam.gserviceaccount.com"
}

resource "google_storage_bucket_iam_binding" "team" {
  bucket  = google_storage_bucket.assets.name
  role    = "roles/storage.objectAdmin"
  members = ["group:platform@example.com"]
}
