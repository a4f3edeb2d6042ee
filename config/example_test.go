package config_test

import (
	"fmt"
	"log"
	"os"

	"github.com/optin-gateway/optin-gateway/config"
)

func ExampleLoad() {
	// The environment overrides the file; a map stands in for os.Getenv.
	env := map[string]string{
		"OPTIN_PUBLIC_URL": "https://optin.example.com/",
		"OPTIN_LOG_FORMAT": "json",
	}
	cfg, err := config.Load("example.yaml", func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("public url:", cfg.PublicURL)
	fmt.Println("embedded redis:", cfg.Embedded())
	n := cfg.Numbers()["+12025550100"]
	fmt.Println("tenant:", n.Tenant, "campaign:", n.Campaigns[0].ID, n.Campaigns[0].Keywords)

	// Errors name the setting as it was written.
	env["OPTIN_MASTER_KEY"] = "dG9vIHNob3J0"
	if _, err := config.Load("example.yaml", func(k string) string { return env[k] }); err != nil {
		fmt.Fprintln(os.Stdout, err)
	}
	// Output:
	// public url: https://optin.example.com
	// embedded redis: true
	// tenant: demo campaign: deals [JOIN]
	// config: OPTIN_MASTER_KEY: must be base64 of 32 bytes (generate one with: openssl rand -base64 32)
}
