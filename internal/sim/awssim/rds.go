package awssim

import (
	"net/http"
)

const rdsNamespace = "http://rds.amazonaws.com/doc/2014-10-31/"

// serveRDS answers DescribeDBInstances in the AWS query protocol.
func (s *Server) serveRDS(w http.ResponseWriter, r *http.Request, req *request) {
	if req.Action != "DescribeDBInstances" {
		writeError(w, req, unknownAction(req))
		return
	}
	var dbs []DBInstance
	if reg := req.Account.Regions[req.Region]; reg != nil {
		dbs = reg.DBInstances
	}
	size, err := formInt(req.Form, "MaxRecords", 100, 20, 100)
	if err != nil {
		writeError(w, req, APIError{Status: 400, Code: "InvalidParameterValue", Message: err.Error()})
		return
	}
	start, end, next, err := pageOf(len(dbs), req.Form.Get("Marker"), size)
	if err != nil {
		writeError(w, req, APIError{Status: 400, Code: "InvalidParameterValue", Message: err.Error()})
		return
	}
	out := rdsDescribeDBInstances{Marker: next}
	for _, db := range dbs[start:end] {
		arn := "arn:aws:rds:" + req.Region + ":" + req.Account.ID + ":db:" + db.ID
		inst := rdsDBInstance{
			DBInstanceIdentifier:  db.ID,
			DBInstanceClass:       "db.t3.micro",
			Engine:                db.Engine,
			DBInstanceStatus:      "available",
			AvailabilityZone:      req.Region + "a",
			StorageEncrypted:      db.StorageEncrypted,
			PubliclyAccessible:    db.PubliclyAccessible,
			BackupRetentionPeriod: db.BackupRetention,
			DBInstanceArn:         arn,
		}
		if db.StorageEncrypted {
			inst.KmsKeyID = "arn:aws:kms:" + req.Region + ":" + req.Account.ID + ":key/rds-" + db.ID
		}
		out.Instances = append(out.Instances, inst)
	}
	writeQuery(w, req, rdsNamespace, out)
}

type rdsDescribeDBInstances struct {
	Instances []rdsDBInstance `xml:"DBInstances>DBInstance"`
	Marker    string          `xml:",omitempty"`
}

type rdsDBInstance struct {
	DBInstanceIdentifier  string
	DBInstanceClass       string
	Engine                string
	DBInstanceStatus      string
	AvailabilityZone      string
	StorageEncrypted      bool
	KmsKeyID              string `xml:"KmsKeyId,omitempty"`
	PubliclyAccessible    bool
	BackupRetentionPeriod int
	DBInstanceArn         string
}
