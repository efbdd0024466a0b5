# Drover's vm-service: ephemeral VMs for machine executors and setup_remote_docker (:3000).
# Cloud credentials come from the Nomad variable nomad/jobs/drover-vm-service.
#   nomad job run -var image=registry.internal/drover/vm-service:1.0.0 vm-service.nomad.hcl

variable "image" {
  type = string
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "provider" {
  type        = string
  default     = "ec2"
  description = "VM provider: ec2, gce or local"
}

job "drover-vm-service" {
  type        = "service"
  datacenters = var.datacenters

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "15s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "vm-service" {
    # One instance: it owns the warm pools and the reaper.
    count = 1

    network {
      port "http" {
        static = 3000
        to     = 3000
      }
    }

    service {
      name     = "drover-vm-service"
      provider = "nomad"
      port     = "http"
      tags     = ["drover", "vm"]

      check {
        name     = "healthz"
        type     = "http"
        path     = "/healthz"
        interval = "15s"
        timeout  = "3s"
      }
    }

    task "vm-service" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
      }

      env {
        DROVER_VM_PROVIDER = var.provider
        DROVER_VM_HOST     = "0.0.0.0"
        # Plaintext on the cluster network only: serve TLS instead with DROVER_TLS_CERT and
        # DROVER_TLS_KEY (a template from Vault PKI) and drop this line.
        DROVER_ALLOW_PLAINTEXT = "true"
        DROVER_VM_PORT     = "3000"
      }

      # DATABASE_URL (the control plane's PostgreSQL), DROVER_VM_SERVICE_TOKEN (the control
      # plane presents it), the provider's settings as JSON (DROVER_VM_EC2 / DROVER_VM_GCE, see
      # vm-service/README.md), warm pools (DROVER_VM_POOLS) and cloud credentials.
      template {
        destination = "secrets/vm.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-vm-service" }}
          DATABASE_URL={{ .DATABASE_URL }}
          DROVER_VM_SERVICE_TOKEN={{ .DROVER_VM_SERVICE_TOKEN }}
          DROVER_VM_EC2='{{ .DROVER_VM_EC2 }}'
          DROVER_VM_GCE='{{ .DROVER_VM_GCE }}'
          DROVER_VM_POOLS='{{ .DROVER_VM_POOLS }}'
          AWS_ACCESS_KEY_ID={{ .AWS_ACCESS_KEY_ID }}
          AWS_SECRET_ACCESS_KEY={{ .AWS_SECRET_ACCESS_KEY }}
          GOOGLE_APPLICATION_CREDENTIALS={{ env "NOMAD_SECRETS_DIR" }}/gce.json
          {{ end }}
        EOT
      }

      template {
        destination = "secrets/gce.json"
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-vm-service" }}{{ .GOOGLE_CREDENTIALS_JSON }}{{ end }}
        EOT
      }

      resources {
        cpu    = 500
        memory = 512
      }

      kill_timeout = "60s"
    }
  }
}
