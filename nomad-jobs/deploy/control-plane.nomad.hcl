# Drover's control plane (API, UI, workflow engine, nomad scheduler backend) as a Nomad service.
# Secrets (DATABASE_URL, REDIS_URL, VAULT_TOKEN, NOMAD_TOKEN) come from the Nomad variable
# nomad/jobs/drover-control-plane, rendered into the task's environment: never in this file.
#   nomad var put nomad/jobs/drover-control-plane DATABASE_URL=... REDIS_URL=... NOMAD_TOKEN=...
#   nomad job run -var image=registry.internal/drover/control-plane:1.0.0 control-plane.nomad.hcl

variable "image" {
  type        = string
  description = "Control plane image"
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "public_url" {
  type        = string
  description = "External URL of the API and UI (behind the load balancer)"
}

variable "output_url" {
  type        = string
  description = "Output-processor ingest URL handed to agents"
}

job "drover-control-plane" {
  type        = "service"
  datacenters = var.datacenters
  node_pool   = "default"

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
    canary            = 1
    auto_promote      = true
    stagger           = "30s"
  }

  group "api" {
    count = 2

    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "drover-control-plane"
      provider = "nomad"
      port     = "http"
      tags     = ["drover", "api"]

      check {
        name     = "healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    task "control-plane" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
      }

      env {
        DROVER_HOST       = "0.0.0.0"
        # Plaintext on the cluster network only: serve TLS instead with DROVER_TLS_CERT and
        # DROVER_TLS_KEY (a template from Vault PKI) and drop this line.
        DROVER_ALLOW_PLAINTEXT = "true"
        DROVER_PORT       = "8080"
        DROVER_PUBLIC_URL = var.public_url
        DROVER_OUTPUT_URL = var.output_url
        NOMAD_ADDR        = "https://nomad.service.consul:4646"
        NOMAD_CACERT      = "/secrets/nomad-ca.pem"
      }

      template {
        destination = "secrets/drover.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-control-plane" }}
          DATABASE_URL={{ .DATABASE_URL }}
          REDIS_URL={{ .REDIS_URL }}
          VAULT_ADDR={{ .VAULT_ADDR }}
          VAULT_TOKEN={{ .VAULT_TOKEN }}
          NOMAD_TOKEN={{ .NOMAD_TOKEN }}
          {{ end }}
        EOT
      }

      template {
        destination = "secrets/nomad-ca.pem"
        change_mode = "restart"
        data        = "{{ with nomadVar \"nomad/jobs/drover-control-plane\" }}{{ .NOMAD_CA_PEM }}{{ end }}"
      }

      resources {
        cpu    = 1000
        memory = 1024
      }

      kill_timeout = "30s"

      logs {
        max_files     = 5
        max_file_size = 20
      }
    }
  }
}
