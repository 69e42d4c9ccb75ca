package aws

import (
	"context"
	"errors"
)

// securityGroupScanner checks security groups open to the world on admin ports or all ports.
//
// Not built yet: it reports every check as not assessed.
func securityGroupScanner() scanner {
	return scanner{
		service: "ec2",
		global:  false,
		checks:  []string{"aws.ec2.sg_admin_ports_open", "aws.ec2.sg_all_ports_open"},
		scan: func(ctx context.Context, s *scope) error {
			return errors.New("securitygroups checks are not built yet")
		},
	}
}
