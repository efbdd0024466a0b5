# Drover's output-processor: step output ingest from agents (:8585), Redis pub/sub, and the
# Pusher-protocol WebSocket server for browsers. REDIS_URL comes from the Nomad variable
# nomad/jobs/drover-output-processor.
#   nomad job run -var image=registry.internal/drover/output-processor:1.0.0 output-processor.nomad.hcl

variable "image" {
  type = string
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

job "drover-output-processor" {
  type        = "service"
  datacenters = var.datacenters

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "ingest" {
    count = 2

    network {
      # Agents on Nomad clients reach 8585 (hardening guide: 8585 from Nomad clients).
      port "ingest" {
        static = 8585
        to     = 8585
      }
    }

    service {
      name     = "drover-output-processor"
      provider = "nomad"
      port     = "ingest"
      tags     = ["drover", "output"]

      check {
        name     = "healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # Keep the two instances on different hosts.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    task "output-processor" {
      driver = "docker"

      config {
        image = var.image
        ports = ["ingest"]
      }

      env {
        DROVER_OUTPUT_HOST = "0.0.0.0"
        # Plaintext on the cluster network only: serve TLS instead with DROVER_TLS_CERT and
        # DROVER_TLS_KEY (a template from Vault PKI) and drop this line.
        DROVER_ALLOW_PLAINTEXT = "true"
        DROVER_OUTPUT_PORT = "8585"
        DROVER_OUTPUT_DIR  = "/alloc/data/output"
      }

      template {
        destination = "secrets/output.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-output-processor" }}
          REDIS_URL={{ .REDIS_URL }}
          {{ end }}
        EOT
      }

      resources {
        cpu    = 1000
        memory = 1024
      }

      kill_timeout = "20s"
    }
  }
}
