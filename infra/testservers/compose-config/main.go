// The `config --format json` command of Docker Compose v2.40.3 alone: its loader, compose-go
// v2.9.1, run as compose runs it, without the rest of the CLI. It takes only the command line the
// tests use:
//
//	docker-compose --project-directory DIR --file FILE --env-file FILE [--profile NAME ...] config --format json
//
// and does what github.com/docker/compose/v2@v2.40.3 does for it, in the same order (the
// functions are named in the comments). Left out, as they change nothing in this output: the git
// and OCI remote resource loaders (ProjectOptions.remoteLoaders; they take only git and oci://
// addresses, in --file, `include` or `extends`), the metrics listener, the `raw` env_file format
// (cmd/compose/compose.go init), the COMPOSE_COMPATIBILITY name separator, the labels ToProject
// sets (ServiceConfig.CustomLabels, never marshalled), and the Docker CLI's own set-up.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/utils"
)

type stringArray []string

func (s *stringArray) String() string     { return strings.Join(*s, ",") }
func (s *stringArray) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var projectDir string
	var configPaths, envFiles, profiles stringArray
	flags := flag.NewFlagSet("docker-compose", flag.ExitOnError)
	flags.StringVar(&projectDir, "project-directory", "", "project directory")
	flags.Var(&configPaths, "file", "compose file")
	flags.Var(&envFiles, "env-file", "env file")
	flags.Var(&profiles, "profile", "profile to enable")
	_ = flags.Parse(os.Args[1:])
	if args := flags.Args(); len(args) != 3 || args[0] != "config" || args[1] != "--format" || args[2] != "json" {
		fmt.Fprintln(os.Stderr, "usage: docker-compose --project-directory DIR --file FILE --env-file FILE [--profile NAME ...] config --format json")
		os.Exit(2)
	}
	// cli-plugins/plugin.Run (docker/cli v28.5.1): the error on stderr, exit status 1.
	if err := run(context.Background(), projectDir, configPaths, envFiles, profiles); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, projectDir string, configPaths, envFiles, profiles []string) error {
	// cmd/compose/compose.go RootCommand's PersistentPreRunE: setEnvWithDotEnv, then the env files
	// made absolute.
	setEnvWithDotEnv(projectDir, configPaths, envFiles)
	for i, file := range envFiles {
		if !filepath.IsAbs(file) {
			abs, err := filepath.Abs(file)
			if err != nil {
				return err
			}
			envFiles[i] = abs
		}
	}

	// cmd/compose/config.go configOptions.ToProjectOptions (no --no-* flag given), then
	// cmd/compose/compose.go ProjectOptions.toProjectOptions.
	opts := []cli.ProjectOptionsFn{
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithDefaultProfiles(profiles...),
		cli.WithDiscardEnvFile,
		cli.WithWorkingDirectory(projectDir),
		cli.WithOsEnv,
	}
	if _, present := os.LookupEnv("PWD"); !present {
		pwd, err := os.Getwd()
		if err != nil {
			return err
		}
		opts = append(opts, cli.WithEnv([]string{"PWD=" + pwd}))
	}
	opts = append(opts,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(profiles...),
		cli.WithName(""),
	)
	options, err := cli.NewProjectOptions(configPaths, opts...)
	if err != nil {
		return err
	}

	// cmd/compose/compose.go ProjectOptions.ToProject (no service named, no --all-resources).
	project, err := options.LoadProject(ctx)
	if err != nil {
		return err
	}
	if project.Name == "" {
		return errors.New("project name can't be empty. Use `--project-name` to set a valid name")
	}
	project, err = project.WithServicesEnabled()
	if err != nil {
		return err
	}
	project, err = project.WithSelectedServices(nil)
	if err != nil {
		return err
	}
	project = project.WithoutUnnecessaryResources()

	// cmd/compose/config.go runConfigInterpolate.
	project, err = project.WithServicesEnvironmentResolved(true)
	if err != nil {
		return err
	}
	if err := project.CheckContainerNameUnicity(); err != nil {
		return err
	}
	content, err := project.MarshalJSON()
	if err != nil {
		return err
	}

	// cmd/compose/config.go runConfig: escapeDollarSign, then printed as is (no newline added).
	content = bytes.ReplaceAll(content, []byte{'$'}, []byte{'$', '$'})
	_, err = fmt.Fprint(os.Stdout, string(content))
	return err
}

// cmd/compose/compose.go setEnvWithDotEnv: the env files' COMPOSE_* variables into the process
// environment, unless set there; errors ignored, as there. (Its two reads of the env files also
// print their interpolation warnings, as compose's do.)
func setEnvWithDotEnv(projectDir string, configPaths, envFiles []string) {
	options, err := cli.NewProjectOptions(configPaths,
		cli.WithWorkingDirectory(projectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
	)
	if err != nil {
		return
	}
	envFromFile, err := dotenv.GetEnvFromFile(utils.GetAsEqualsMap(os.Environ()), options.EnvFiles)
	if err != nil {
		return
	}
	for k, v := range envFromFile {
		if _, ok := os.LookupEnv(k); !ok && strings.HasPrefix(k, "COMPOSE_") {
			if err = os.Setenv(k, v); err != nil {
				return
			}
		}
	}
}
